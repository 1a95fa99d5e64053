import CMosquitto
import Foundation
public import GatewayCore
import Synchronization

/// How to reach the broker.
public struct MQTTOptions: Sendable {
    public var host: String
    public var port: Int
    /// Stable across restarts: the broker keeps the persistent session under it.
    public var clientID: String
    public var topics: Topics
    public var keepalive: Int
    public var username: String?
    public var password: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    /// `$share/{group}/…` subscriptions for several gateways behind one broker.
    public var sharedGroup: String?
    /// MQTT sessions the gateway receives on (`mqtt.lanes`), each with its own libmosquitto
    /// thread and persistent session; more than one share a `$share` group (``group``).
    public var lanes: Int
    /// Reconnect backoff, seconds: doubling from the first to the cap.
    public var reconnectDelay: (first: Int, cap: Int)

    public init(
        host: String = "localhost", port: Int = 1883, clientID: String = "ccm-gateway", topics: Topics = Topics(),
        keepalive: Int = 30, username: String? = nil, password: String? = nil, caFile: String? = nil,
        certFile: String? = nil,
        keyFile: String? = nil, sharedGroup: String? = nil, reconnectDelay: (first: Int, cap: Int) = (1, 30),
        lanes: Int = 1
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.topics = topics
        self.keepalive = keepalive
        self.username = username
        self.password = password
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.sharedGroup = sharedGroup
        self.reconnectDelay = reconnectDelay
        self.lanes = max(1, lanes)
    }

    /// The client id of lane `lane` (0-based): the first lane is `clientID` itself, so the
    /// persistent session (and the backlog the broker keeps for it) of a gateway that ran with one
    /// lane is the first lane's; lane n (n ≥ 2) is `clientID-n`. Stable across restarts.
    public func clientID(lane: Int) -> String {
        lane == 0 ? clientID : "\(clientID)-\(lane + 1)"
    }

    /// The `$share` group the lanes subscribe in: `sharedGroup` when set (several gateways share
    /// the work), else the client id (this gateway's lanes share it among themselves). `nil` with
    /// one lane and no shared group: plain subscriptions, as before lanes existed.
    public var group: String? {
        sharedGroup ?? (lanes > 1 ? clientID : nil)
    }
}

/// What the MQTT client tells its owner, which decides how loudly to say it (a library logs
/// nothing above debug; the daemon logs these at warning or above, docs/logging.md).
public enum MQTTEvent: Sendable, Equatable {
    /// The first connection attempt failed at once (a wrong host name, a refused port); the
    /// client keeps trying.
    case unreachable(reason: String)
    /// The broker refused a lane's connection (CONNACK): wrong credentials, not authorised.
    case refused(clientID: String, reason: String)
    case connected(clientID: String)
    /// A lane lost its connection; it reconnects with backoff.
    case lost(clientID: String, reason: String)
    case subscribeFailed(filter: String, reason: String)
    case publishRefused(topic: String, reason: String)
    /// A received message could not be stored: the process exits (status 75) right after this
    /// event, before the message is acknowledged, so the broker delivers it again.
    case storeFailed(topic: String, error: String)
}

/// A problem with the MQTT set-up, naming the setting and the fix.
public struct MQTTError: ExplainedError, Sendable {
    public let what: String
    public let fix: String?
    public init(_ what: String, fix: String? = nil) {
        self.what = what
        self.fix = fix
    }

    static func check(_ rc: Int32, _ what: String, fix: String? = nil) throws {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError("\(what) failed: \(String(cString: mosquitto_strerror(rc)))", fix: fix)
        }
    }
}

/// The gateway's MQTT client: `options.lanes` sessions (lanes), each a `mosquitto*` handle with
/// libmosquitto's own network thread and its own persistent session, subscribed in one `$share`
/// group when there are several (the broker hands each message to one of them, and queues for
/// them round-robin while they are away). The first lane also carries the gateway's status (its
/// retained online message and last will) and its publishes (alerts).
///
/// Acknowledgement follows the commit: libmosquitto queues a message's PUBACK before calling
/// `on_message` and, in threaded mode, writes it only after the callback returns. Each lane's
/// callback hands its raw message to the inbox (``InboxReceiver``, a group-committing writer) and waits; the writer commits what all
/// lanes handed over in one fsync'd transaction and then releases them, so K lanes share one
/// fsync and every PUBACK still follows a durable commit. If the commit fails the process exits
/// from inside the callback, so no acknowledgement goes out and the broker delivers the message
/// again after the restart.
///
/// Lanes do not keep the order of arrival across them: two messages of one hub may be committed
/// (get inbox ids) in either order. Nothing downstream depends on that order; the pipeline
/// orders readings by their device time (see `AlertBook.evaluate`).
public final class MQTTClient: @unchecked Sendable {
    // Safety: the handles are used from the owner's thread (start/stop/publish, which
    // libmosquitto allows concurrently with its loop threads) and from libmosquitto's callbacks;
    // the mutable state is in `state`, behind a Mutex.
    private let handles: [OpaquePointer]
    public let options: MQTTOptions
    private let writer: any InboxReceiver
    private let events: @Sendable (MQTTEvent) -> Void
    private let state: Mutex<State>
    /// Signalled on every accepted connection (for callers that must wait for one).
    private let connection = NSCondition()

    struct State {
        /// Per lane: connected now, and accepted connections so far (CONNACK 0), reconnects included.
        var connected: [Bool]
        var connections: [Int]
        /// Per lane: messages received (committed or not).
        var received: [Int]
        var started = false
        /// Published messages waiting for their acknowledgement, by message id.
        var awaiting: [Int32: @Sendable () -> Void] = [:]
        /// Acknowledgements that came before `publish` had recorded their message id.
        var early: Set<Int32> = []
    }

    /// What became of a publish.
    public enum Publication: Sendable, Equatable {
        /// libmosquitto has it: sent now, or once the broker is back (it sends unacknowledged
        /// QoS 1 messages again after a reconnect). The `acknowledged` closure runs at the PUBACK.
        case queued
        /// Refused for good (an invalid topic, a payload too large): it can never be sent.
        case refused(String)
        /// Not taken this time (out of memory): publish it again later.
        case failed(String)
    }

    private static let libraryInit: Void = { _ = mosquitto_lib_init() }()

    /// Every message received goes to `inbox` (which commits it, and tells its owner what became
    /// of it); `events` hears what happens to the connections.
    public init(
        options: MQTTOptions, inbox: any InboxReceiver, events: @escaping @Sendable (MQTTEvent) -> Void = { _ in }
    ) throws {
        _ = Self.libraryInit
        self.options = options
        self.writer = inbox
        self.events = events
        state = Mutex(
            State(
                connected: Array(repeating: false, count: options.lanes),
                connections: Array(repeating: 0, count: options.lanes),
                received: Array(repeating: 0, count: options.lanes)))
        var handles: [OpaquePointer] = []
        for lane in 0..<options.lanes {
            guard let handle = mosquitto_new(options.clientID(lane: lane), false, nil) else {
                handles.forEach { mosquitto_destroy($0) }
                throw MQTTError("mosquitto_new failed: out of memory or an invalid mqtt.client_id")
            }
            handles.append(handle)
        }
        self.handles = handles
        for (lane, handle) in handles.enumerated() {
            do { try configure(handle, lane: lane) } catch {
                handles.forEach { mosquitto_destroy($0) }
                throw error
            }
        }
    }

    private func configure(_ handle: OpaquePointer, lane: Int) throws {
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        try MQTTError.check(
            mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311), "setting MQTT 3.1.1")
        // Nagle's algorithm holds a small PUBACK or alert back until the previous segment is
        // acknowledged: tens of milliseconds on a quiet link. Send each at once.
        try MQTTError.check(mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), "disabling Nagle's algorithm")
        if options.username != nil || options.password != nil {
            try MQTTError.check(
                mosquitto_username_pw_set(handle, options.username, options.password), "mqtt.username",
                fix: "check mqtt.username and mqtt.password_file")
        }
        if options.caFile != nil || options.certFile != nil {
            try MQTTError.check(
                mosquitto_tls_set(handle, options.caFile, nil, options.certFile, options.keyFile, nil), "mqtt.tls",
                fix: "check that mqtt.tls.ca_file, cert_file and key_file exist and are readable PEM files")
        }
        if lane == 0 {
            let offline = Array(Self.statusPayload(online: false).utf8)
            try MQTTError.check(
                mosquitto_will_set(
                    handle, options.topics.status(gateway: options.clientID), Int32(offline.count), offline, 1, true),
                "setting the last will", fix: "check mqtt.prefix")
        }
        mosquitto_reconnect_delay_set(
            handle, UInt32(options.reconnectDelay.first), UInt32(options.reconnectDelay.cap), true)
        mosquitto_connect_callback_set(handle) { mosq, context, rc in
            MQTTClient.from(context)?.connected(rc, mosq)
        }
        mosquitto_disconnect_callback_set(handle) { mosq, context, rc in
            MQTTClient.from(context)?.disconnected(rc, mosq)
        }
        if lane == 0 {
            mosquitto_publish_callback_set(handle) { _, context, mid in
                MQTTClient.from(context)?.published(mid)
            }
        }
        mosquitto_message_callback_set(handle) { mosq, context, message in
            guard let client = MQTTClient.from(context), let message else { return }
            client.received(message.pointee, mosq)
        }
    }

    deinit {
        handles.forEach { mosquitto_destroy($0) }
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> MQTTClient? {
        context.map { Unmanaged<MQTTClient>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The lane of a handle (libmosquitto passes it to every callback).
    private func lane(of handle: OpaquePointer?) -> Int {
        handles.firstIndex { $0 == handle } ?? 0
    }

    /// The first lane: status, last will and every publish.
    private var main: OpaquePointer { handles[0] }

    static func statusPayload(online: Bool) -> String {
        #"{"state":"\#(online ? "online" : "offline")"}"#
    }

    /// Every lane is connected.
    public var isConnected: Bool { state.withLock { !$0.connected.contains(false) } }

    /// How many times the broker has accepted every lane's connection so far (the fewest of any
    /// lane).
    public var connectionCount: Int { state.withLock { $0.connections.min() ?? 0 } }

    /// Messages each lane has received so far.
    public var receivedByLane: [Int] { state.withLock { $0.received } }

    /// Waits until the broker has accepted more than `count` connections of every lane (and the
    /// subscriptions are on their way); false after `timeout` seconds.
    public func waitForConnection(after count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        connection.lock()
        defer { connection.unlock() }
        while connectionCount <= count {
            guard connection.wait(until: deadline) else { return connectionCount > count }
        }
        return true
    }

    /// Starts libmosquitto's network threads and connects in the background; each lane keeps
    /// reconnecting with backoff when the broker is away.
    public func start() throws {
        for handle in handles {
            let rc = mosquitto_connect_async(handle, options.host, Int32(options.port), Int32(options.keepalive))
            if rc != MOSQ_ERR_SUCCESS.rawValue, handle == main {
                // Not fatal: the loop thread retries; a wrong host name is worth saying now.
                events(.unreachable(reason: String(cString: mosquitto_strerror(rc))))
            }
            try MQTTError.check(mosquitto_loop_start(handle), "starting the MQTT thread")
        }
        state.withLock { $0.started = true }
    }

    /// Says offline, disconnects and stops the network threads.
    public func stop() {
        guard state.withLock({ $0.started }) else { return }
        if state.withLock({ $0.connected[0] }) {
            publish(
                topic: options.topics.status(gateway: options.clientID), payload: Self.statusPayload(online: false),
                retain: true)
        }
        for handle in handles { mosquitto_disconnect(handle) }
        for handle in handles { mosquitto_loop_stop(handle, false) }
        state.withLock {
            $0.started = false
            $0.connected = Array(repeating: false, count: handles.count)
            // Never acknowledged now: whoever waited for them publishes them again next time.
            $0.awaiting = [:]
            $0.early = []
        }
    }

    /// Publishes `payload` (QoS 1 unless told otherwise). Queued by libmosquitto while
    /// disconnected. Returns false when libmosquitto refuses it.
    @discardableResult
    public func publish(topic: String, payload: String, qos: Int32 = 1, retain: Bool = false) -> Bool {
        let result = publish(topic: topic, payload: payload, qos: qos, retain: retain) {}
        if result != .queued {
            events(.publishRefused(topic: topic, reason: "\(result)"))
            return false
        }
        return true
    }

    /// Publishes `payload` on the first lane and runs `acknowledged` (on libmosquitto's thread)
    /// once the broker has acknowledged it (PUBACK, at QoS 1). While the broker is away the
    /// message waits in libmosquitto and goes out on reconnect; it is lost only with the process.
    public func publish(
        topic: String, payload: String, qos: Int32 = 1, retain: Bool = false,
        acknowledged: @escaping @Sendable () -> Void
    ) -> Publication {
        let bytes = Array(payload.utf8)
        var mid: Int32 = 0
        let rc = mosquitto_publish(main, &mid, topic, Int32(bytes.count), bytes, qos, retain)
        switch rc {
        case MOSQ_ERR_SUCCESS.rawValue, MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue:
            // Queued (not connected: sent after the reconnect).
            let now = state.withLock { state -> Bool in
                if state.early.remove(mid) != nil { return true }
                state.awaiting[mid] = acknowledged
                return false
            }
            if now { acknowledged() }
            return .queued
        case MOSQ_ERR_INVAL.rawValue, MOSQ_ERR_PAYLOAD_SIZE.rawValue, MOSQ_ERR_MALFORMED_UTF8.rawValue,
            MOSQ_ERR_OVERSIZE_PACKET.rawValue,
            MOSQ_ERR_QOS_NOT_SUPPORTED.rawValue, MOSQ_ERR_NOT_SUPPORTED.rawValue:
            return .refused(String(cString: mosquitto_strerror(rc)))
        default:
            return .failed(String(cString: mosquitto_strerror(rc)))
        }
    }

    // MARK: Callbacks, on libmosquitto's threads.

    private func connected(_ rc: Int32, _ handle: OpaquePointer?) {
        let lane = lane(of: handle)
        guard rc == 0 else {
            events(
                .refused(clientID: options.clientID(lane: lane), reason: String(cString: mosquitto_connack_string(rc))))
            return
        }
        let group = options.group
        if lane == 0, group != nil {
            // The first lane's session may hold plain subscriptions from a run with one lane;
            // with them it would get every message twice (once through the group).
            for filter in options.topics.subscriptions() { mosquitto_unsubscribe(handle, nil, filter) }
        }
        for filter in options.topics.subscriptions(sharedGroup: group) {
            let rc = mosquitto_subscribe(handle, nil, filter, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                events(.subscribeFailed(filter: filter, reason: String(cString: mosquitto_strerror(rc))))
            }
        }
        connection.lock()
        state.withLock {
            $0.connected[lane] = true
            $0.connections[lane] += 1
        }
        connection.broadcast()
        connection.unlock()
        if lane == 0 {
            publish(
                topic: options.topics.status(gateway: options.clientID), payload: Self.statusPayload(online: true),
                retain: true)
        }
        events(.connected(clientID: options.clientID(lane: lane)))
    }

    /// The broker acknowledged message `mid`.
    private func published(_ mid: Int32) {
        let callback = state.withLock { state -> (@Sendable () -> Void)? in
            if let callback = state.awaiting.removeValue(forKey: mid) { return callback }
            state.early.insert(mid)
            return nil
        }
        callback?()
    }

    private func disconnected(_ rc: Int32, _ handle: OpaquePointer?) {
        let lane = lane(of: handle)
        state.withLock { $0.connected[lane] = false }
        if rc != 0 {
            events(.lost(clientID: options.clientID(lane: lane), reason: String(cString: mosquitto_strerror(rc))))
        }
    }

    private func received(_ message: mosquitto_message, _ handle: OpaquePointer?) {
        let lane = lane(of: handle)
        state.withLock { $0.received[lane] += 1 }
        let topic = String(cString: message.topic)
        // A payload over the limit is rejected whatever it holds: its first bytes are kept with
        // its size, not all of it (a hub sending 50 MB messages must not fill the disk).
        let size = Int(max(message.payloadlen, 0))
        let kept = min(size, writer.maxPayloadBytes)
        let payload = kept > 0 && message.payload != nil ? Data(bytes: message.payload, count: kept) : Data()
        let route = options.topics.classify(topic)
        let input = RawInput(
            source: "mqtt:\(topic)", format: Self.format(of: route), hubID: route?.hub, payload: payload,
            payloadSize: size > kept ? size : nil)
        do {
            // Blocks until the writer has committed this message (with whatever the other lanes
            // handed over meanwhile): the PUBACK goes out when this callback returns.
            _ = try writer.receive(input)
        } catch {
            // Returning would let the PUBACK go out for a message that is not on disk. Exiting
            // here (75, EX_TEMPFAIL; systemd restarts the daemon) keeps it unacknowledged, so
            // the broker delivers it again.
            events(.storeFailed(topic: topic, error: "\(error)"))
            _exit(75)
        }
    }

    /// The inbox format of a topic's payloads.
    static func format(of route: Topics.Inbound?) -> InputFormat {
        switch route {
        case .reading?: .nativeV1
        case .fhir?: .fhirR4
        case .gatt(_, let device, let characteristic)?:
            .gatt(characteristic: characteristic, device: DeviceID.canonical(device))
        case .time?: .timeEntryV1
        case nil: .unsupported
        }
    }
}
