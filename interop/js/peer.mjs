#!/usr/bin/env node
// js-libp2p test peer for Bethrou's interop tests.
//
// Controlled by JSON lines on stdin, answers JSON lines on stdout; logs go to stderr.
// See README.md for options, commands and events.
import './polyfill.mjs'

import { setMaxListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPairFromSeed, publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { ECHO_PROTOCOL, echoOnce, round, serveEcho } from './lib/echo.mjs'
import { GO_PING_PROTOCOL, PROXY_PROTOCOL, goProxyClient, serveGoPing, serveGoProxy } from './lib/goproxy.mjs'
import { pingConnection } from './lib/ping.mjs'
import { chunkedPreSharedKey } from './lib/pnet.mjs'
import { describeError } from './lib/streams.mjs'

// stdout carries protocol lines only
const stdoutWrite = process.stdout.write.bind(process.stdout)
console.log = (...args) => console.error(...args)
console.info = (...args) => console.error(...args)

function emit (obj) {
  stdoutWrite(JSON.stringify(obj) + '\n')
}

function log (...args) {
  console.error(`[peer ${new Date().toISOString()}]`, ...args)
}

const { values: opts } = parseArgs({
  options: {
    psk: { type: 'string', default: process.env.BETHROU_JS_PSK },
    listen: { type: 'string', multiple: true },
    seed: { type: 'string', default: process.env.BETHROU_JS_SEED },
    'relay-server': { type: 'boolean', default: false },
    'relay-client': { type: 'boolean', default: false },
    'relay-data-limit': { type: 'string', default: String(1024 * 1024 * 1024) },
    'relay-duration-limit': { type: 'string', default: String(10 * 60 * 1000) },
    'go-bethrou-exit': { type: 'boolean', default: false },
    'go-exit-keep-early-data': { type: 'boolean', default: false },
    'no-connection-monitor': { type: 'boolean', default: false },
    'no-pnet-chunking': { type: 'boolean', default: false },
    'dial-timeout': { type: 'string', default: '10000' }
  },
  strict: true
})

const listen = opts.listen ?? (process.env.BETHROU_JS_LISTEN ? [process.env.BETHROU_JS_LISTEN] : ['/ip4/127.0.0.1/tcp/0'])

async function main () {
  let privateKey
  if (opts.seed != null && opts.seed !== '') {
    const seed = Buffer.from(opts.seed, 'hex')
    if (seed.byteLength !== 32 || opts.seed.length !== 64) {
      throw new Error(`--seed must be 64 hex characters (32 bytes), got ${JSON.stringify(opts.seed)}`)
    }
    privateKey = await generateKeyPairFromSeed('Ed25519', seed)
  }

  let connectionProtector
  if (opts.psk != null && opts.psk !== '') {
    const psk = readFileSync(opts.psk)
    connectionProtector = opts['no-pnet-chunking'] ? preSharedKey({ psk }) : chunkedPreSharedKey({ psk })
  }

  const transports = [tcp()]
  if (opts['relay-client'] || listen.some(a => a.includes('/p2p-circuit'))) {
    transports.push(circuitRelayTransport())
  }

  const services = {
    identify: identify(),
    ping: ping()
  }
  if (opts['relay-server']) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: 128,
        defaultDataLimit: BigInt(opts['relay-data-limit']),
        defaultDurationLimit: Number(opts['relay-duration-limit'])
      },
      maxInboundHopStreams: 128,
      maxOutboundStopStreams: 128
    })
  }

  const node = await createLibp2p({
    privateKey,
    addresses: { listen },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector,
    connectionManager: {
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 256,
      maxConnections: 1024,
      dialTimeout: Number(opts['dial-timeout'])
    },
    connectionMonitor: { enabled: !opts['no-connection-monitor'] },
    services
  })

  node.addEventListener('connection:open', (evt) => {
    const c = evt.detail
    emit({ event: 'connection', peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), direction: c.direction, limited: c.limits != null, id: c.id })
  })
  node.addEventListener('connection:close', (evt) => {
    const c = evt.detail
    emit({ event: 'connection:close', peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), direction: c.direction, id: c.id })
  })
  const identified = new Map() // connection id -> IdentifyResult
  const identifyWaiters = new Map() // connection id -> [resolve]
  node.addEventListener('peer:identify', (evt) => {
    const r = evt.detail
    identified.set(r.connection.id, r)
    emit({ event: 'identify', peer: r.peerId.toString(), agentVersion: r.agentVersion, protocols: r.protocols })
    for (const resolve of identifyWaiters.get(r.connection.id) ?? []) resolve(r)
    identifyWaiters.delete(r.connection.id)
  })
  node.addEventListener('connection:close', (evt) => identified.delete(evt.detail.id))

  await node.handle(ECHO_PROTOCOL, async (stream, connection) => {
    const r = await serveEcho(stream)
    emit({ event: 'echo', peer: connection.remotePeer.toString(), bytes: r.bytes, ms: round(r.ms), error: r.error })
  }, { runOnLimitedConnection: true, maxInboundStreams: 256, maxOutboundStreams: 256 })

  if (opts['go-bethrou-exit']) {
    await node.handle(PROXY_PROTOCOL, async (stream, connection) => {
      const peer = connection.remotePeer.toString()
      await serveGoProxy(stream, {
        dropEarlyData: !opts['go-exit-keep-early-data'],
        onEarlyData: (bytes) => {
          log(`proxy request from ${peer} was followed by ${bytes} bytes before the reply; dropped like Go's json.Decoder does`)
          emit({ event: 'proxy:early-data', peer, bytes })
        },
        onDone: (r) => emit({ event: 'proxy', peer, address: r.address, status: r.status, message: r.message, up: r.up, down: r.down, error: r.error, ms: round(r.ms) })
      })
    }, { runOnLimitedConnection: true, maxInboundStreams: 1024 })
    await node.handle(GO_PING_PROTOCOL, async (stream) => {
      await serveGoPing(stream)
    }, { runOnLimitedConnection: true, maxInboundStreams: 1024 })
  }

  // wait for relay reservations when asked to listen on a circuit address
  if (listen.some(a => a.includes('/p2p-circuit'))) {
    await waitFor(() => node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 30_000, 'relay reservation')
  }

  const signalFor = (cmd, fallback) => {
    const signal = AbortSignal.timeout(Number(cmd.timeoutMs ?? fallback))
    setMaxListeners(Infinity, signal) // one signal serves many streams
    return signal
  }

  function target (cmd) {
    if (cmd.addr != null) return multiaddr(cmd.addr)
    if (cmd.peer != null) return peerIdFromString(cmd.peer)
    throw new Error('command needs "peer" or "addr"')
  }

  async function connectionFor (cmd, signal) {
    if (cmd.addr == null && cmd.peer != null) {
      const open = node.getConnections(peerIdFromString(cmd.peer)).filter(c => c.status === 'open')
      const direct = open.find(c => c.limits == null)
      if (direct ?? open[0]) return direct ?? open[0]
    }
    return node.dial(target(cmd), { signal })
  }

  function describeConnection (c) {
    return {
      id: c.id,
      peer: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      status: c.status,
      direction: c.direction,
      limited: c.limits != null,
      limits: c.limits == null ? undefined : { bytes: c.limits.bytes?.toString(), seconds: c.limits.seconds },
      encryption: c.encryption,
      multiplexer: c.multiplexer,
      streams: c.streams.map(s => s.protocol),
      rtt: c.rtt
    }
  }

  function waitIdentify (conn, timeoutMs) {
    const known = identified.get(conn.id)
    if (known) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const list = identifyWaiters.get(conn.id) ?? []
      const waiter = (r) => { clearTimeout(timer); resolve(r) }
      const timer = setTimeout(() => {
        const remaining = (identifyWaiters.get(conn.id) ?? []).filter(w => w !== waiter)
        if (remaining.length > 0) identifyWaiters.set(conn.id, remaining)
        else identifyWaiters.delete(conn.id)
        reject(new Error(`no identify result for connection ${conn.id} within ${timeoutMs} ms`))
      }, timeoutMs)
      list.push(waiter)
      identifyWaiters.set(conn.id, list)
    })
  }

  const commands = {
    async info () {
      return { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), protocols: node.getProtocols() }
    },
    async dial (cmd) {
      const conn = await node.dial(target(cmd), { signal: signalFor(cmd, 15_000) })
      return { peerId: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString(), limited: conn.limits != null, connection: describeConnection(conn) }
    },
    async ping (cmd) {
      const count = Number(cmd.count ?? 1)
      const signal = signalFor(cmd, 10_000 + count * 1_000)
      const conn = await connectionFor(cmd, signal)
      if (cmd.service === true) {
        // js's own ping service (it chooses the connection itself); RTTs are whole milliseconds
        const rtts = []
        for (let i = 0; i < count; i++) rtts.push(await node.services.ping.ping(conn.remotePeer, { signal }))
        return { peerId: conn.remotePeer.toString(), rtts }
      }
      const rtts = await pingConnection(conn, { count, sameStream: cmd.sameStream === true, signal })
      return { peerId: conn.remotePeer.toString(), connection: conn.id, limited: conn.limits != null, rtts: rtts.map(round) }
    },
    async identify (cmd) {
      const signal = signalFor(cmd, 15_000)
      const conn = await connectionFor(cmd, signal)
      let result
      try {
        result = await waitIdentify(conn, Number(cmd.waitMs ?? 10_000))
      } catch (err) {
        // no automatic identify result: run one now to surface js's own error
        result = await node.services.identify.identify(conn, { signal })
      }
      const peerId = conn.remotePeer
      let publicKeyHex
      let publicKeyMatches = false
      if (result.publicKey != null) {
        publicKeyHex = Buffer.from(result.publicKey).toString('hex')
        publicKeyMatches = peerIdFromPublicKey(publicKeyFromProtobuf(result.publicKey)).equals(peerId)
      }
      let store
      try {
        const peer = await node.peerStore.get(peerId)
        const meta = (k) => peer.metadata.get(k) == null ? undefined : Buffer.from(peer.metadata.get(k)).toString('utf8')
        store = {
          agentVersion: meta('AgentVersion'),
          protocolVersion: meta('ProtocolVersion'),
          protocols: [...peer.protocols].sort(),
          addresses: peer.addresses.map(a => ({ multiaddr: a.multiaddr.toString(), isCertified: a.isCertified })),
          publicKey: peer.id.publicKey == null ? undefined : Buffer.from(publicKeyToProtobuf(peer.id.publicKey)).toString('hex')
        }
      } catch (err) {
        store = { error: describeError(err) }
      }
      return {
        peerId: peerId.toString(),
        agentVersion: result.agentVersion,
        protocolVersion: result.protocolVersion,
        protocols: [...(result.protocols ?? [])].sort(),
        listenAddrs: (result.listenAddrs ?? []).map(String),
        observedAddr: result.observedAddr?.toString(),
        publicKey: publicKeyHex,
        publicKeyMatchesPeerId: publicKeyMatches,
        signedPeerRecord: result.signedPeerRecord == null
          ? undefined
          : { seq: result.signedPeerRecord.seq.toString(), addresses: result.signedPeerRecord.addresses.map(String) },
        peerStore: store
      }
    },
    async echo (cmd) {
      const bytes = Number(cmd.bytes ?? 1024 * 1024)
      const streams = Number(cmd.streams ?? 1)
      const signal = signalFor(cmd, 120_000)
      const conn = await connectionFor(cmd, signal)
      const seed = cmd.seed ?? 1
      const protocol = cmd.protocol ?? ECHO_PROTOCOL
      const t0 = performance.now()
      const settled = await Promise.allSettled(Array.from({ length: streams }, (_, index) =>
        echoOnce(conn, { protocol, bytes, index, seed, signal })))
      const ms = performance.now() - t0
      const results = settled.map(s => s.status === 'fulfilled' ? s.value : { ok: false, error: describeError(s.reason) })
      const total = bytes * streams
      const ok = results.every(r => r.ok)
      const reply = {
        ok,
        peerId: conn.remotePeer.toString(),
        streams: results,
        totalBytes: total,
        ms: round(ms),
        mbps: round(total * 8 / 1e6 / (ms / 1000)),
        MBps: round(total / 1e6 / (ms / 1000))
      }
      if (!ok) reply.error = results.filter(r => !r.ok).map((r, i) => `stream ${i}: ${r.error}`).join('; ')
      return reply
    },
    async proxy (cmd) {
      const signal = signalFor(cmd, 30_000)
      const conn = await connectionFor(cmd, signal)
      const payload = cmd.send == null ? Buffer.alloc(0) : Buffer.from(cmd.send, 'base64')
      const r = await goProxyClient(conn, {
        address: cmd.address,
        payload,
        connectTimeoutMs: cmd.connectTimeoutMs,
        lazy: cmd.lazy ?? true,
        halfClose: cmd.halfClose ?? true,
        signal
      })
      return { peerId: conn.remotePeer.toString(), ...r, ms: round(r.ms) }
    },
    async connections (cmd) {
      let list = node.getConnections()
      if (cmd.peer != null) list = list.filter(c => c.remotePeer.toString() === cmd.peer)
      return { connections: list.map(describeConnection) }
    },
    async hangup (cmd) {
      await node.hangUp(target(cmd), { signal: signalFor(cmd, 10_000) })
      return {}
    },
    async listen (cmd) {
      await node.components.transportManager.listen([multiaddr(cmd.addr)])
      if (String(cmd.addr).includes('/p2p-circuit')) {
        await waitFor(() => node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), Number(cmd.timeoutMs ?? 30_000), 'relay reservation')
      }
      return { addrs: node.getMultiaddrs().map(String) }
    },
    async stop () {
      setImmediate(() => shutdown(0))
      return {}
    }
  }

  let stopping = false
  async function shutdown (code) {
    if (stopping) return
    stopping = true
    const timer = setTimeout(() => process.exit(code), 5_000)
    timer.unref()
    try {
      await node.stop()
    } catch (err) {
      log('stop failed:', describeError(err))
    }
    process.exit(code)
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (line.trim() === '') return
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch (err) {
      emit({ id: null, ok: false, error: `invalid JSON command: ${err.message}` })
      return
    }
    const id = cmd.id ?? null
    const handler = commands[cmd.cmd]
    if (handler == null) {
      emit({ id, ok: false, error: `unknown command ${JSON.stringify(cmd.cmd)}` })
      return
    }
    handler(cmd).then(
      (result) => {
        const ok = result.ok ?? true
        emit({ id, ...result, ok })
      },
      (err) => {
        log(`command ${cmd.cmd} failed:`, err)
        emit({ id, ok: false, error: describeError(err), errorName: err?.name })
      })
  })
  // the parent went away: do not linger
  rl.on('close', () => shutdown(0))
  process.on('SIGTERM', () => shutdown(0))
  process.on('SIGINT', () => shutdown(0))

  emit({
    event: 'ready',
    peerId: node.peerId.toString(),
    addrs: node.getMultiaddrs().map(String),
    protocols: node.getProtocols(),
    pnet: connectionProtector != null,
    agentVersion: node.components?.nodeInfo?.userAgent
  })
  log(`ready ${node.peerId} on ${node.getMultiaddrs().map(String).join(' ')}`)
}

function waitFor (predicate, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      if (predicate()) { resolve(); return }
      if (Date.now() - started > timeoutMs) { reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); return }
      setTimeout(tick, 50)
    }
    tick()
  })
}

process.on('unhandledRejection', (err) => {
  log('unhandled rejection:', err)
})
process.on('uncaughtException', (err) => {
  log('uncaught exception:', err)
})

main().catch((err) => {
  log('startup failed:', err)
  emit({ event: 'error', error: describeError(err) })
  process.exit(1)
})
