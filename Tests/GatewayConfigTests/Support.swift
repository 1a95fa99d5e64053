import Foundation
@_exported import GatewayTestSupport

let repository = TestPaths.repository

let templatesDirectory = repository.appendingPathComponent("config/careplans").path
