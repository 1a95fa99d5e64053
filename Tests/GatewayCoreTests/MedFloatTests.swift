import GatewayCore
import Testing

@Suite("IEEE-11073 SFLOAT and FLOAT")
struct MedFloatTests {
    @Test("Worked examples decode exactly")
    func examples() {
        // E1: 10.1 is 0xF065, sent as 65 F0.
        #expect(MedFloat(sfloatBytes: 0x65, 0xF0) == .number(mantissa: 101, exponent: -1))
        #expect(MedFloat(sfloatBytes: 0x65, 0xF0).value == 10.1)
        // E4: 0xF0BD is 189e-1 = 18.9, the nearest double, not 18.900000000000002.
        #expect(MedFloat(sfloat: 0xF0BD).value == 18.9)
        #expect(MedFloat(sfloat: 0xF09F).value == 15.9)
        #expect(MedFloat(sfloat: 0x008A).value == 138)
        // E5: 0xB069 is 105e-5 kg/L.
        #expect(MedFloat(sfloat: 0xB069) == .number(mantissa: 105, exponent: -5))
        #expect(MedFloat(sfloat: 0xB069).value == 0.00105)
        // E8: FLOAT 0xFE000EB0 is 3760e-2 = 37.6, sent as B0 0E 00 FE.
        #expect(MedFloat(floatBytes: 0xB0, 0x0E, 0x00, 0xFE).value == 37.6)
    }

    @Test("Negative mantissas and exponents are two's complement")
    func signs() {
        #expect(MedFloat(sfloat: 0x0FFF) == .number(mantissa: -1, exponent: 0))
        #expect(MedFloat(sfloat: 0xF800) == .number(mantissa: -2048, exponent: -1))
        #expect(MedFloat(sfloat: 0x7001).value == 10_000_000)
        #expect(MedFloat(float: 0x00FF_FFFF) == .number(mantissa: -1, exponent: 0))
        #expect(MedFloat(float: 0x0180_0000) == .number(mantissa: -8_388_608, exponent: 1))
    }

    @Test(
        "SFLOAT special values are no value",
        arguments: [
            (UInt16(0x07FF), MedFloat.notANumber), (0x0800, .notAtThisResolution), (0x07FE, .positiveInfinity),
            (0x0802, .negativeInfinity), (0x0801, .reserved),
        ])
    func sfloatSpecials(raw: UInt16, expected: MedFloat) {
        let decoded = MedFloat(sfloat: raw)
        #expect(decoded == expected)
        #expect(decoded.value == nil)
        #expect(decoded.specialName != nil)
    }

    @Test(
        "FLOAT special values are no value",
        arguments: [
            (UInt32(0x007F_FFFF), MedFloat.notANumber), (0x0080_0000, .notAtThisResolution),
            (0x007F_FFFE, .positiveInfinity),
            (0x0080_0002, .negativeInfinity), (0x0080_0001, .reserved),
        ])
    func floatSpecials(raw: UInt32, expected: MedFloat) {
        #expect(MedFloat(float: raw) == expected)
        #expect(MedFloat(float: raw).value == nil)
    }

    @Test("Specials exist with exponent 0 only: 0x17FE is 2046e1, not +INFINITY")
    func specialsNeedExponentZero() {
        #expect(MedFloat(sfloat: 0x17FE) == .number(mantissa: 2046, exponent: 1))
        #expect(MedFloat(sfloat: 0x17FE).value == 20460)
        #expect(MedFloat(sfloat: 0x17FF).value == 20470)
        #expect(MedFloat(float: 0x017F_FFFF).value == 83_886_070)
    }
}
