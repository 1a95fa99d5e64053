import CLibMosquitto
import Foundation
import Synchronization

/// A QoS 1 publisher on libmosquitto's own network thread: publishes queue, the thread sends
/// them and reads the PUBACKs, and `waitAcknowledged` returns once the broker has them all.
final class Publisher: @unchecked Sendable {
    // Safety: libmosquitto is thread-safe for publish with its threaded loop; the handle is set once.
    private let handle: OpaquePointer
    private let acknowledged = Atomic<Int>(0)

    init(port: Int, clientID: String, username: String? = nil, password: String? = nil) {
        mosquitto_lib_init()
        handle = mosquitto_new(clientID, true, nil)!
        if let username { _ = mosquitto_username_pw_set(handle, username, password) }
        mosquitto_publish_callback_set(handle) { _, object, _ in
            Unmanaged<Publisher>.fromOpaque(object!).takeUnretainedValue().acknowledged.add(1, ordering: .relaxed)
        }
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        _ = mosquitto_max_inflight_messages_set(handle, 1000)
        _ = mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1)
        guard mosquitto_connect(handle, "127.0.0.1", Int32(port), 60) == MOSQ_ERR_SUCCESS.rawValue,
            mosquitto_loop_start(handle) == MOSQ_ERR_SUCCESS.rawValue
        else { fatalError("the benchmark publisher cannot connect to 127.0.0.1:\(port)") }
    }

    func publish(_ topic: String, _ payload: some Collection<UInt8>) {
        let bytes = Array(payload)
        let rc = bytes.withUnsafeBytes {
            mosquitto_publish(handle, nil, topic, Int32($0.count), $0.baseAddress, 1, false)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            fatalError("publish failed: \(String(cString: mosquitto_strerror(rc)))")
        }
    }

    var count: Int { acknowledged.load(ordering: .relaxed) }

    func waitAcknowledged(_ n: Int, timeout: Double = 600) {
        let deadline = Date().addingTimeInterval(timeout)
        while count < n {
            guard Date() < deadline else { fatalError("only \(count) of \(n) publishes acknowledged") }
            usleep(2000)
        }
    }

    func close() {
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        mosquitto_destroy(handle)
    }
}
