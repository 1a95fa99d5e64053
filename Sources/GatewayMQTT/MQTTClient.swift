import CMosquitto
import Foundation
public import GatewayCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
    /// MQTT sessions the gateway receives on (`mqtt.lanes`), each with its own network thread
    /// and persistent session; more than one share a `$share` group (``group``).
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
/// a network thread of its own (``Lane``) and its own persistent session, subscribed in one
/// `$share` group when there are several (the broker hands each message to one of them, and
/// queues for them round-robin while they are away). The first lane also carries the gateway's
/// status (its retained online message and last will) and its publishes (alerts).
///
/// Acknowledgement follows the commit, and several messages share one: libmosquitto queues a
/// message's PUBACK before calling `on_message`, and with `mosquitto_threaded_set` (a thread
/// the application runs) it writes queued packets only when that thread calls
/// `mosquitto_loop_write`. Each lane's thread runs libmosquitto's steps itself, in this order:
/// read every message the socket holds (`mosquitto_loop_read`; `on_message` only collects
/// them), hand them all to the inbox (``InboxReceiver``, a group-committing writer: one
/// fsync'd transaction for them and for whatever the other lanes handed over meanwhile), and
/// only then write (`mosquitto_loop_write`), which sends their PUBACKs. So one lane commits up
/// to as many messages at once as the broker sends before it waits for acknowledgements
/// (``batchLimit``), and every PUBACK still follows a durable commit. If
/// the commit fails the process exits before that write, so no acknowledgement goes out and the
/// broker delivers the messages again after the restart.
///
/// Lanes do not keep the order of arrival across them: two messages of one hub may be committed
/// (get inbox ids) in either order. Nothing downstream depends on that order; the pipeline
/// orders readings by their device time (see `AlertBook.evaluate`).
public final class MQTTClient: @unchecked Sendable {
    // Safety: the handles are used from the owner's thread (start/stop/publish, which
    // libmosquitto allows concurrently with the lanes' threads once `mosquitto_threaded_set` is
    // on) and from the lanes' threads (their loops and libmosquitto's callbacks); the mutable
    // state is in `state`, behind a Mutex, and in each ``Lane``, touched by its thread alone.
    private let handles: [OpaquePointer]
    private let lanes: [Lane]
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
        /// Set by ``stop()``: the lanes send what is queued, disconnect and end.
        var stopping = false
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
        lanes = handles.enumerated().map { Lane(index: $0.offset, handle: $0.element) }
        for (lane, handle) in handles.enumerated() {
            do { try configure(handle, lane: lane) } catch {
                handles.forEach { mosquitto_destroy($0) }
                throw error
            }
        }
    }

    private func configure(_ handle: OpaquePointer, lane: Int) throws {
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        // The lane's own thread runs the network loop (``Lane``): queued packets wait for it.
        try MQTTError.check(mosquitto_threaded_set(handle, true), "setting up the MQTT thread")
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

    /// Starts the lanes' network threads, which connect in the background; each lane keeps
    /// reconnecting with backoff when the broker is away.
    public func start() throws {
        let already = state.withLock { state -> Bool in
            if state.started { return true }
            state.started = true
            return false
        }
        // A second start would run a second thread on each handle.
        guard !already else { throw MQTTError("the MQTT client is already started") }
        for lane in lanes {
            let thread = Thread { [self] in run(lane) }
            thread.name = "mqtt-lane-\(lane.index + 1)"
            thread.start()
        }
    }

    /// Says offline, disconnects and stops the network threads: each sends what it has queued
    /// first (the first lane its offline status), for up to two seconds. Waits up to ten seconds
    /// for each thread (one in a blocking connect to an unreachable host may take longer; it
    /// ends on its own). A second call while one runs returns at once.
    public func stop() {
        let proceed = state.withLock { state -> Bool in
            guard state.started, !state.stopping else { return false }
            state.stopping = true
            return true
        }
        guard proceed else { return }
        for lane in lanes { lane.wake() }
        for lane in lanes { _ = lane.ended.wait(timeout: .now() + 10) }
        state.withLock {
            $0.started = false
            $0.stopping = false
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
            lanes[0].wake()
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
        lanes[lane].backoff = Double(options.reconnectDelay.first)
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
        // Committed by the lane's loop once the socket holds no more (``readAndCommit``), before
        // anything is written: the PUBACK libmosquitto queued for it waits until then.
        lanes[lane].pending.append(input)
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

// MARK: The lanes' network loops.

extension MQTTClient {
    /// One lane's thread state: its handle, what `on_message` collected since the last commit,
    /// and the descriptor that wakes its `poll` (a publish queued, a stop).
    final class Lane: @unchecked Sendable {
        // Safety: `pending` and `backoff` are touched only by the lane's own thread (its loop and
        // the libmosquitto callbacks it runs); the rest is immutable or thread-safe.
        let index: Int
        let handle: OpaquePointer
        var pending: [RawInput] = []
        /// Seconds before the next reconnect attempt; back to the first delay on every CONNACK.
        var backoff: Double = 0
        /// Signalled once when the lane's thread ends.
        let ended = DispatchSemaphore(value: 0)
        /// A pipe: its read end in the lane's `poll`, its write end for ``wake()``.
        private let wakeRead: Int32
        private let wakeWrite: Int32

        init(index: Int, handle: OpaquePointer) {
            self.index = index
            self.handle = handle
            var ends: [Int32] = [-1, -1]
            if pipe(&ends) == 0 {
                for end in ends {
                    _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(end, F_SETFD, FD_CLOEXEC)
                }
            }
            (wakeRead, wakeWrite) = (ends[0], ends[1])
        }

        deinit {
            if wakeRead >= 0 { close(wakeRead) }
            if wakeWrite >= 0 { close(wakeWrite) }
        }

        /// Wakes the lane's `poll`: something is queued to send, or it is to stop. (A full pipe
        /// already wakes it.)
        func wake() {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }

        /// Waits up to `seconds` for data on `socket` (or, below 0, none), writability when
        /// `writing`, or a wake-up. Returns the socket's poll events (0 when only woken or timed
        /// out).
        func wait(socket: Int32, writing: Bool, seconds: Double) -> Int16 {
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN) | (writing ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&fds, 2, Int32((max(0, seconds) * 1000).rounded(.up))) > 0 else { return 0 }
            if fds[1].revents != 0 {
                var bytes = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &bytes, bytes.count) > 0 {}
            }
            return socket >= 0 ? fds[0].revents : 0
        }

        /// Data waits on `socket` now.
        static func readable(_ socket: Int32) -> Bool {
            var fd = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            return socket >= 0 && poll(&fd, 1, 0) > 0 && fd.revents & Int16(POLLIN) != 0
        }
    }

    /// Most messages one lane commits at once. What the socket holds is what the broker sent
    /// before waiting for acknowledgements: up to mosquitto's `max_inflight_messages` (20) of
    /// live traffic, more when it resends a persistent session's backlog on reconnect (about 100
    /// a commit in the benchmark's drain).
    static let batchLimit = 256

    /// A lane's thread: connect, then in turn read what the socket holds, commit it, write what
    /// is queued (the PUBACKs of what was just committed among it) and keep the session alive,
    /// reconnecting with backoff when the connection is lost, until ``stop()``.
    func run(_ lane: Lane) {
        let handle = lane.handle
        let success = MOSQ_ERR_SUCCESS.rawValue
        var connected = false
        var attempts = 0
        lane.backoff = Double(options.reconnectDelay.first)
        while !state.withLock({ $0.stopping }) {
            if !connected {
                let rc =
                    attempts == 0
                    ? mosquitto_connect(handle, options.host, Int32(options.port), Int32(options.keepalive))
                    : mosquitto_reconnect(handle)
                attempts += 1
                guard rc == success else {
                    if attempts == 1, lane.index == 0 {
                        // Not fatal: the lane retries; a wrong host name is worth saying now.
                        events(.unreachable(reason: String(cString: mosquitto_strerror(rc))))
                    }
                    pause(lane)
                    continue
                }
                connected = true
            }
            let socket = mosquitto_socket(handle)
            // Bytes a TLS session decrypted but the last read left (the batch was full) are not
            // seen by poll: read them without waiting.
            let buffered = Self.tlsPending(handle)
            let ready =
                lane.wait(socket: socket, writing: mosquitto_want_write(handle), seconds: buffered ? 0 : 1)
                | (buffered ? Int16(POLLIN) : 0)
            var rc = success
            // Also when only writable: a TLS handshake that wants to write goes on in
            // `mosquitto_loop_read` (with nothing to read it returns at once).
            if ready != 0 { rc = readAndCommit(lane) }
            if rc == success, mosquitto_want_write(handle) { rc = mosquitto_loop_write(handle, 1) }
            if rc == success { rc = mosquitto_loop_misc(handle) }
            if rc == success, ready & Int16(POLLHUP | POLLERR) != 0 {
                // The peer is gone, but libmosquitto did not say so (a TLS handshake cut off
                // returns success): without this the lane would spin on POLLHUP until keepalive.
                disconnected(MOSQ_ERR_CONN_LOST.rawValue, handle)
                rc = MOSQ_ERR_CONN_LOST.rawValue
            }
            if rc != success {
                // libmosquitto closed the socket and told `disconnected` (or the line above
                // did; the reconnect closes the socket).
                connected = false
                pause(lane)
            }
        }
        if connected {
            // Said here, on the lane's thread, so that a CONNACK read meanwhile cannot put
            // "online" after it.
            if lane.index == 0, state.withLock({ $0.connected[0] }) {
                publish(
                    topic: options.topics.status(gateway: options.clientID),
                    payload: Self.statusPayload(online: false), retain: true)
            }
            // Whatever is queued (acknowledgements, the offline status) goes out before the
            // DISCONNECT, after which libmosquitto closes the socket; two seconds at most.
            mosquitto_disconnect(handle)
            let deadline = Date().addingTimeInterval(2)
            while mosquitto_socket(handle) >= 0, mosquitto_want_write(handle), Date() < deadline {
                _ = lane.wait(socket: mosquitto_socket(handle), writing: true, seconds: 0.1)
                guard mosquitto_loop_write(handle, 1) == success else { break }
            }
        }
        lane.ended.signal()
    }

    /// Reads every message the socket holds now (up to ``batchLimit``), commits them in one
    /// call to the inbox, and returns `mosquitto_loop_read`'s last result. Nothing is written
    /// here: their PUBACKs go out with the loop's next write, after the commit.
    private func readAndCommit(_ lane: Lane) -> Int32 {
        let handle = lane.handle
        var rc = mosquitto_loop_read(handle, 1)
        while rc == MOSQ_ERR_SUCCESS.rawValue, lane.pending.count < Self.batchLimit,
            Lane.readable(mosquitto_socket(handle)) || Self.tlsPending(handle)
        {
            rc = mosquitto_loop_read(handle, 1)
        }
        guard !lane.pending.isEmpty else { return rc }
        let inputs = lane.pending
        lane.pending = []
        do {
            // Blocks until the writer has committed these (with whatever the other lanes handed
            // over meanwhile).
            _ = try writer.receive(inputs)
        } catch {
            // Going on would let the PUBACKs go out for messages that are not on disk. Exiting
            // here (75, EX_TEMPFAIL; systemd restarts the daemon) keeps them unacknowledged, so
            // the broker delivers them again.
            events(.storeFailed(topic: String(inputs[0].source.dropFirst("mqtt:".count)), error: "\(error)"))
            _exit(75)
        }
        return rc
    }

    /// OpenSSL's `SSL_pending`, found in the process (libmosquitto links libssl), so that no
    /// TLS headers are needed to build; nil when libssl is not loaded.
    private static let sslPending: (@convention(c) (UnsafeMutableRawPointer?) -> Int32)? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "SSL_pending"
    ).map { unsafeBitCast($0, to: (@convention(c) (UnsafeMutableRawPointer?) -> Int32).self) }

    /// Decrypted bytes wait in the TLS session: `poll` does not see them, and
    /// `mosquitto_loop_read` may return before reading them.
    private static func tlsPending(_ handle: OpaquePointer) -> Bool {
        guard let ssl = mosquitto_ssl_get(handle), let pending = sslPending else { return false }
        return pending(ssl) > 0
    }

    /// Waits out the lane's backoff (a stop ends it early) and doubles it up to the cap.
    private func pause(_ lane: Lane) {
        let deadline = Date().addingTimeInterval(lane.backoff)
        while !state.withLock({ $0.stopping }), Date() < deadline {
            _ = lane.wait(socket: -1, writing: false, seconds: deadline.timeIntervalSinceNow)
        }
        lane.backoff = min(lane.backoff * 2, Double(options.reconnectDelay.cap))
    }
}
