import Foundation
@_exported import GatewayTestSupport

let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let templatesDirectory = repository.appendingPathComponent("config/careplans").path


