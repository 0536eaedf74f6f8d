import NIOCore
import NIOPosix

/// Probes a TCP service (a cache such as Redis or memcached) by opening a connection.
struct TCPProbe: HealthProbe {
    let name: String
    let host: String
    let port: Int
    let isRequired: Bool
    let componentType = "datastore"

    func check(timeout: Duration) async throws -> String {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
        do {
            let channel = try await bootstrap.connect(host: self.host, port: self.port).get()
            try? await channel.close()
            return "Active"
        } catch ChannelError.connectTimeout {
            throw self.timedOut(timeout)
        } catch {
            throw self.down("cannot connect to \(self.host):\(self.port): \(error)")
        }
    }
}
