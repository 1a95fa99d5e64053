import Foundation
import Testing

@testable import ccmctl

@Suite("ccmctl output")
struct OutputTests {
    @Test("Cells written as JSON directly read exactly as JSONEncoder writes them")
    func jsonAsEncoder() {
        let cells: [Cell] = [
            .object([
                ("month", .text("2026-03")), ("b", .array([])), ("a", .object([])), ("99454", .int(1)),
                ("99453", .number(19.73, fractionDigits: 2)), ("item10", .bool(true)), ("item2", .null),
                ("Upper", .text("x")), ("lower", .text("y")), ("_x", .int(5)), ("b_c", .int(6)), ("bc", .int(7)),
                ("a01b", .int(8)), ("a1b", .int(9)), ("é", .int(10)), ("z", .int(11)),
                (
                    "patients",
                    .array([
                        .object([("patient", .text("P1")), ("amount", .number(62, fractionDigits: 2))]),
                        .object([("note", .text("quote \" backslash \\ slash / tab \t line \n bell \u{07} del \u{7F}"))]
                        ),
                        .object([("name", .text("Zoë 李 🩺 \u{202E}rtl \u{2028}"))]),
                        .array([.number(-0.5, fractionDigits: nil), .number(1e20, fractionDigits: nil)]),
                        .number(123_456.789, fractionDigits: nil), .number(-42, fractionDigits: 0),
                    ])
                ),
            ]),
            .array([]), .object([]), .text(""), .null, .number(0.1, fractionDigits: nil),
        ]
        for cell in cells {
            #expect(Listing.json(cell) == Listing.json(ThroughEncoder(cell: cell)))
        }
    }
}

/// A cell that only JSONEncoder can write.
struct ThroughEncoder: Encodable {
    let cell: Cell
    func encode(to encoder: any Encoder) throws { try cell.encode(to: encoder) }
}
