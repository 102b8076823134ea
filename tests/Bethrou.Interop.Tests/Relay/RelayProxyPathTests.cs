using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Protocols.Relay;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Node;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.Relay;

/// <summary>The proxy path over a relay on loopback, in process: client.yaml's <c>nodes[].relay</c> (as in Go) → relay → exit.</summary>
public sealed class RelayProxyPathTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ClientYamlRelayEntryCarriesSocksTrafficThroughTheRelay()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var ct = cts.Token;
        var psk = PreSharedKey.Generate();
        var dir = Directory.CreateTempSubdirectory("bethrou-relay-proxy-").FullName;
        try
        {
            var keyFile = Path.Combine(dir, "network.key");
            await File.WriteAllBytesAsync(keyFile, psk.ToFileBytes(), ct);

            var relayOptions = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk };
            relayOptions.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
            await using var relay = new Libp2pHost(relayOptions);
            await using var service = new RelayService(relay);
            service.Start();
            await relay.StartAsync(ct);
            var relayAddr = relay.ListenAddresses[0].WithPeerId(relay.LocalPeer);

            // The exit does not listen at all: it is reachable only through the relay.
            // Hole punching off: on loopback DCUtR can succeed (simultaneous open from the exit's relay socket port) and
            // would move the tunnel off the relay, which is not what this test is about.
            var exitHost = new Libp2pHost(new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk, EnableHolePunching = false });
            await using var exit = new ExitNode(exitHost, new ExitOptions { AllowPrivate = true }, NullLoggerFactory.Instance);
            await exitHost.StartAsync(ct);
            await using var reservations = new RelayReservationManager(exitHost, [relayAddr]);
            var reserved = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            reservations.Reserved += _ => reserved.TrySetResult();
            reservations.Start();
            await reserved.Task.WaitAsync(ct);

            var body = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);
            using var origin = new TcpListener(IPAddress.Loopback, 0);
            origin.Start();
            var serve = ServeOnceAsync(origin, [.. Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {body.Length}\r\n\r\n"), .. body], ct);

            var yaml = $"""
                key: {keyFile}
                server:
                  listen: 127.0.0.1:0
                nodes:
                  - id: {exitHost.LocalPeer}
                    relay: {relayAddr}
                routing:
                  health: 30s
                  timeout: 10s
                """;
            var config = ClientConfigLoader.Load("client.yaml", new Dictionary<string, string>(), new ClientOverrides(), null, _ => yaml);
            await using var client = await ProxyClient.StartAsync(config, psk, Ed25519PrivateKey.Generate(), NullLoggerFactory.Instance);
            Assert.True(await client.Pool.WaitForHealthyAsync(1, TimeSpan.FromSeconds(30), ct));

            var outFile = Path.Combine(dir, "out.bin");
            var (code, stdout, stderr) = await NetnsLab.RunAsync("curl",
                ["-sS", "--max-time", "60", "--socks5-hostname", $"127.0.0.1:{client.SocksEndPoint.Port}", "-o", outFile,
                 "-w", "%{http_code} %{time_starttransfer} %{time_total}", $"http://127.0.0.1:{((IPEndPoint)origin.LocalEndpoint).Port}/"]);
            Assert.True(code == 0, $"curl failed ({code}): {stderr}");
            output.WriteLine("curl through nodes[].relay: " + stdout);
            Assert.StartsWith("200 ", stdout, StringComparison.Ordinal);
            Assert.Equal(body, await File.ReadAllBytesAsync(outFile, ct));
            await serve;

            var conn = client.Host.GetConnection(exitHost.LocalPeer)!;
            Assert.True(conn.IsLimited);
            Assert.Equal(relayAddr.Encapsulate("/p2p-circuit/p2p/" + exitHost.LocalPeer), conn.RemoteAddress);
            Assert.Equal(1, service.CircuitCount);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A one-request HTTP/1.0 origin: reads the request head, writes the response, closes.</summary>
    private static async Task ServeOnceAsync(TcpListener listener, byte[] response, CancellationToken ct)
    {
        using var socket = await listener.AcceptSocketAsync(ct);
        var head = new List<byte>();
        var buffer = new byte[4096];
        while (!Encoding.ASCII.GetString([.. head]).Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, ct);
            if (n == 0)
            {
                return;
            }
            head.AddRange(buffer.AsSpan(0, n));
        }
        await socket.SendAsync(response, ct);
        socket.Shutdown(SocketShutdown.Both);
    }
}
