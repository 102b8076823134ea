using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;

namespace Bethrou.Bench.Socks;

/// <summary>
/// <see cref="FloorRelay"/> without System.Net.Sockets: one thread per process running its own level-triggered epoll
/// loop over non-blocking sockets through libc, as ss-libev runs over libev. Same protocol and behaviour as
/// floor-local / floor-server (SOCKS5 no-auth CONNECT, immediate success, one plain TCP connection per request to the
/// server, destination in SOCKS5 address form, then bytes both ways with half-close). IPv4 only (loopback bench);
/// Linux x64 only. It answers one question: how much of the per-connection cost is .NET's socket engine and async
/// machinery, rather than the language.
/// </summary>
internal static unsafe class EpollFloorRelay
{
    public static int Run(Args a, bool local)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new UsageException("the epoll floor runs on Linux only");
        }
        var listen = Endpoints.ParseIPv4(a.Str("listen"), "--listen", allowPortZero: true);
        IPEndPoint? server = null;
        if (local)
        {
            var s = a.Str("server", "");
            server = s.Length == 0 ? null : Endpoints.ParseIPv4(s, "--server");
        }
        new Loop(listen, local, server).Run();
        return 0;
    }

    private enum Stage { Greeting, Request, Header, Connecting, Relay }

    /// <summary>One side of a relayed pair: its fd, bytes read but not yet sent to the peer, whether it sent EOF.</summary>
    private sealed class Side
    {
        public int Fd = -1;
        public readonly byte[] In = new byte[16 * 1024];
        public int InStart;
        public int InEnd;
        public bool ReadEof;
        public bool WroteShutdown;
        public bool WaitsWritable;
        public bool Paused;
        public Side? Peer;
        public Pair Pair = null!;
    }

    private sealed class Pair
    {
        public Stage Stage;
        public readonly Side Down = new(); // app (local) or tunnel (server)
        public readonly Side Up = new();   // floor-server (local) or destination (server)
        public byte[] Header = [];
        public bool ReplyOnConnect;
    }

    private sealed class Loop
    {
        private readonly int _ep;
        private readonly int _listener;
        private readonly bool _local;
        private readonly IPEndPoint? _server;
        private readonly Dictionary<int, Side> _sides = [];

        public Loop(IPEndPoint listen, bool local, IPEndPoint? server)
        {
            _local = local;
            _server = server;
            _ep = Check(Libc.epoll_create1(0), "epoll_create1");
            _listener = Check(Libc.socket(2, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK, 0), "socket");
            var one = 1;
            _ = Libc.setsockopt(_listener, 1, 2 /* SO_REUSEADDR */, &one, 4);
            var sa = SockAddr(listen);
            Check(Libc.bind(_listener, &sa, 16), "bind");
            Check(Libc.listen(_listener, 1024), "listen");
            var len = 16;
            _ = Libc.getsockname(_listener, &sa, &len);
            Console.WriteLine($"listening {listen.Address}:{BinaryPrimitives.ReverseEndianness(sa.Port)}");
            Add(_listener, Libc.EPOLLIN);
        }

        public void Run()
        {
            var events = stackalloc Libc.EpollEvent[64];
            while (true)
            {
                var n = Libc.epoll_wait(_ep, events, 64, -1);
                if (n < 0)
                {
                    continue; // EINTR
                }
                for (var i = 0; i < n; i++)
                {
                    var fd = (int)events[i].Data;
                    if (fd == _listener)
                    {
                        Accept();
                    }
                    else if (_sides.TryGetValue(fd, out var side))
                    {
                        OnEvent(side, events[i].Events);
                    }
                }
            }
        }

        private void Accept()
        {
            while (true)
            {
                var fd = Libc.accept4(_listener, null, null, Libc.SOCK_NONBLOCK);
                if (fd < 0)
                {
                    return;
                }
                NoDelay(fd);
                var p = new Pair { Stage = _local ? Stage.Greeting : Stage.Header };
                p.Down.Fd = fd;
                p.Down.Pair = p;
                p.Up.Pair = p;
                p.Down.Peer = p.Up;
                p.Up.Peer = p.Down;
                _sides[fd] = p.Down;
                Add(fd, Libc.EPOLLIN);
            }
        }

        private void OnEvent(Side s, uint events)
        {
            var p = s.Pair;
            if (p.Stage == Stage.Connecting && s == p.Up)
            {
                int err = 0, len = 4;
                _ = Libc.getsockopt(s.Fd, 1, 4 /* SO_ERROR */, &err, &len);
                if (err != 0)
                {
                    Close(p);
                    return;
                }
                p.Stage = Stage.Relay;
                Modify(s.Fd, Libc.EPOLLIN);
                if (!SendAll(p.ReplyOnConnect ? p.Down.Fd : s.Fd, p.ReplyOnConnect ? [5, 0, 0, 1, 0, 0, 0, 0, 0, 0] : p.Header))
                {
                    Close(p);
                    return;
                }
                Flush(p.Down); // app bytes that arrived while connecting
                return;
            }
            if ((events & Libc.EPOLLOUT) != 0 && p.Stage == Stage.Relay)
            {
                Flush(s.Peer!);
            }
            if ((events & (Libc.EPOLLIN | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                Read(s);
            }
        }

        private void Read(Side s)
        {
            var p = s.Pair;
            if (s.InEnd == s.In.Length || s.ReadEof)
            {
                return; // peer not draining: wait for EPOLLOUT on it
            }
            int n;
            fixed (byte* b = &s.In[s.InEnd])
            {
                n = (int)Libc.recv(s.Fd, b, (nint)(s.In.Length - s.InEnd), 0);
            }
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() is 11 or 4)
                {
                    return;
                }
                Close(p);
                return;
            }
            if (n == 0)
            {
                s.ReadEof = true;
                Modify(s.Fd, 0);
            }
            s.InEnd += n;
            switch (p.Stage)
            {
                case Stage.Greeting or Stage.Request or Stage.Header:
                    Handshake(p);
                    break;
                case Stage.Relay:
                    Flush(s);
                    break;
                // Connecting: keep the bytes until the connect completes
            }
        }

        /// <summary>Sends what <paramref name="from"/> has buffered to its peer; half-closes the peer after EOF.</summary>
        private void Flush(Side from)
        {
            var to = from.Peer!;
            while (from.InStart < from.InEnd)
            {
                nint n;
                fixed (byte* b = &from.In[from.InStart])
                {
                    n = Libc.send(to.Fd, b, from.InEnd - from.InStart, Libc.MSG_NOSIGNAL);
                }
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == 11)
                    {
                        Modify(to.Fd, (to.ReadEof ? 0 : Libc.EPOLLIN) | Libc.EPOLLOUT);
                        to.WaitsWritable = true;
                        Modify(from.Fd, 0); // level-triggered: stop reading until the peer drains
                        from.Paused = true;
                        return;
                    }
                    Close(from.Pair);
                    return;
                }
                from.InStart += (int)n;
            }
            from.InStart = from.InEnd = 0;
            if (to.WaitsWritable)
            {
                Modify(to.Fd, to.ReadEof ? 0 : Libc.EPOLLIN);
                to.WaitsWritable = false;
            }
            if (from.Paused)
            {
                Modify(from.Fd, from.ReadEof ? 0 : Libc.EPOLLIN);
                from.Paused = false;
            }
            if (from.ReadEof && !to.WroteShutdown)
            {
                _ = Libc.shutdown(to.Fd, 1);
                to.WroteShutdown = true;
            }
            if (from.ReadEof && to.ReadEof && to.InStart == to.InEnd)
            {
                Close(from.Pair);
            }
        }

        private void Handshake(Pair p)
        {
            var s = p.Down;
            var buf = s.In.AsSpan(s.InStart, s.InEnd - s.InStart);
            if (p.Stage == Stage.Greeting)
            {
                if (buf.Length < 2 || buf.Length < 2 + buf[1])
                {
                    if (s.ReadEof)
                    {
                        Close(p);
                    }
                    return;
                }
                if (buf[0] != 5 || !SendAll(s.Fd, [5, 0]))
                {
                    Close(p);
                    return;
                }
                s.InStart += 2 + buf[1];
                p.Stage = Stage.Request;
                buf = s.In.AsSpan(s.InStart, s.InEnd - s.InStart);
            }
            var skip = p.Stage == Stage.Request ? 3 : 0; // VER CMD RSV before the address
            if (buf.Length < skip + 1)
            {
                return;
            }
            var atyp = buf[skip];
            var need = atyp switch { 1 => skip + 1 + 4 + 2, 4 => skip + 1 + 16 + 2, 3 when buf.Length > skip + 1 => skip + 2 + buf[skip + 1] + 2, 3 => int.MaxValue, _ => -1 };
            if (need < 0 || (skip > 0 && buf[1] != 1))
            {
                Close(p);
                return;
            }
            if (buf.Length < need)
            {
                if (s.ReadEof)
                {
                    Close(p);
                }
                return;
            }
            var address = buf[skip..need].ToArray();
            s.InStart += need;
            IPEndPoint target;
            if (_local && _server is not null)
            {
                if (!SendAll(s.Fd, [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]))
                {
                    Close(p);
                    return;
                }
                p.Header = address;
                target = _server;
            }
            else
            {
                if (atyp != 1)
                {
                    Close(p); // the bench targets IPv4 literals
                    return;
                }
                target = new IPEndPoint(new IPAddress(address.AsSpan(1, 4)), BinaryPrimitives.ReadUInt16BigEndian(address.AsSpan(5)));
            }
            var fd = Libc.socket(2, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK, 0);
            NoDelay(fd);
            p.Up.Fd = fd;
            _sides[fd] = p.Up;
            var sa = SockAddr(target);
            var r = Libc.connect(fd, &sa, 16);
            if (r < 0 && Marshal.GetLastPInvokeError() != 115 /* EINPROGRESS */)
            {
                Close(p);
                return;
            }
            p.Stage = Stage.Connecting;
            Add(fd, Libc.EPOLLOUT);
            p.ReplyOnConnect = _local && _server is null; // one process: reply to the app once connected
        }

        private bool SendAll(int fd, ReadOnlySpan<byte> data)
        {
            fixed (byte* b = data)
            {
                return data.Length == 0 || Libc.send(fd, b, data.Length, Libc.MSG_NOSIGNAL) == data.Length;
            }
        }

        private void Close(Pair p)
        {
            foreach (var s in new[] { p.Down, p.Up })
            {
                if (s.Fd >= 0)
                {
                    _sides.Remove(s.Fd);
                    _ = Libc.close(s.Fd);
                    s.Fd = -1;
                }
            }
        }

        private void Add(int fd, uint events)
        {
            var e = new Libc.EpollEvent { Events = events, Data = (ulong)fd };
            _ = Libc.epoll_ctl(_ep, 1, fd, &e);
        }

        private void Modify(int fd, uint events)
        {
            var e = new Libc.EpollEvent { Events = events, Data = (ulong)fd };
            _ = Libc.epoll_ctl(_ep, 3, fd, &e);
        }

        private static void NoDelay(int fd)
        {
            var one = 1;
            _ = Libc.setsockopt(fd, 6, 1 /* TCP_NODELAY */, &one, 4);
        }

        private static Libc.SockAddrIn SockAddr(IPEndPoint ep)
        {
            var sa = new Libc.SockAddrIn { Family = 2, Port = BinaryPrimitives.ReverseEndianness((ushort)ep.Port) };
            ep.Address.TryWriteBytes(new Span<byte>(&sa.Addr, 4), out _);
            return sa;
        }

        private static int Check(int r, string what) =>
            r >= 0 ? r : throw new IOException($"{what} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private static class Libc
    {
        public const int SOCK_STREAM = 1;
        public const int SOCK_NONBLOCK = 0x800;
        public const uint EPOLLIN = 1, EPOLLOUT = 4, EPOLLERR = 8, EPOLLHUP = 16;
        public const int MSG_NOSIGNAL = 0x4000;

        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        public struct EpollEvent
        {
            public uint Events;
            public ulong Data;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct SockAddrIn
        {
            public ushort Family;
            public ushort Port;
            public uint Addr;
            public ulong Zero;
        }

        [DllImport("libc", SetLastError = true)] public static extern int socket(int domain, int type, int protocol);
        [DllImport("libc", SetLastError = true)] public static extern int bind(int fd, SockAddrIn* addr, int len);
        [DllImport("libc", SetLastError = true)] public static extern int listen(int fd, int backlog);
        [DllImport("libc", SetLastError = true)] public static extern int getsockname(int fd, SockAddrIn* addr, int* len);
        [DllImport("libc", SetLastError = true)] public static extern int accept4(int fd, SockAddrIn* addr, int* len, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int connect(int fd, SockAddrIn* addr, int len);
        [DllImport("libc", SetLastError = true)] public static extern nint recv(int fd, byte* buf, nint len, int flags);
        [DllImport("libc", SetLastError = true)] public static extern nint send(int fd, byte* buf, nint len, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int shutdown(int fd, int how);
        [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] public static extern int setsockopt(int fd, int level, int name, void* value, int len);
        [DllImport("libc", SetLastError = true)] public static extern int getsockopt(int fd, int level, int name, void* value, int* len);
        [DllImport("libc", SetLastError = true)] public static extern int epoll_create1(int flags);
        [DllImport("libc", SetLastError = true)] public static extern int epoll_ctl(int ep, int op, int fd, EpollEvent* ev);
        [DllImport("libc", SetLastError = true)] public static extern int epoll_wait(int ep, EpollEvent* events, int max, int timeout);
    }
}
