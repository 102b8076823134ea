// The Go Bethrou proxy protocol (bethrou-go-reference.md §2.2, §2.3), both sides:
//   client → node: compact JSON {"address":"host:port"[,"connect_timeout_ms":N]} + "\n"
//   node → client: {"status":"ok"}\n  or  {"status":"error","message":"<Go-style error>"}\n
//   then raw bytes both ways.
import net from 'node:net'
import { StreamReader } from './reader.mjs'
import { MAX_PIECE, PAUSED_READ_BUFFER, describeError, pieces, sendAll } from './streams.mjs'

export const PROXY_PROTOCOL = '/bethrou/proxy/1.0.0'
export const GO_PING_PROTOCOL = '/bethrou/ping/1.0.0'
const MAX_REQUEST_LINE = 64 * 1024
const MULTISTREAM = '/multistream/1.0.0'

/** Splits "host:port" / "[v6]:port" as Go's net.SplitHostPort does (enough for tests). */
export function splitHostPort (address) {
  if (typeof address !== 'string') throw new Error('missing address')
  let host
  let portText
  if (address.startsWith('[')) {
    const end = address.indexOf(']')
    if (end < 0 || address[end + 1] !== ':') throw new Error(`address ${address}: missing port in address`)
    host = address.slice(1, end)
    portText = address.slice(end + 2)
  } else {
    const colon = address.lastIndexOf(':')
    if (colon < 0) throw new Error(`address ${address}: missing port in address`)
    host = address.slice(0, colon)
    if (host.includes(':')) throw new Error(`address ${address}: too many colons in address`)
    portText = address.slice(colon + 1)
  }
  const port = Number(portText)
  if (!/^[0-9]+$/.test(portText) || port > 65535) throw new Error(`dial tcp: address ${portText}: invalid port`)
  return { host, port }
}

/** Maps a Node socket error to the wording Go's net.Dial would use (the SOCKS mapping matches on it). */
export function goDialError (address, host, err) {
  switch (err?.code) {
    case 'ECONNREFUSED': return `dial tcp ${address}: connect: connection refused`
    case 'ENOTFOUND':
    case 'EAI_NONAME': return `dial tcp: lookup ${host}: no such host`
    case 'ETIMEDOUT':
    case 'GOTIMEOUT': return `dial tcp ${address}: i/o timeout`
    case 'EHOSTUNREACH': return `dial tcp ${address}: connect: no route to host`
    case 'ENETUNREACH': return `dial tcp ${address}: connect: network is unreachable`
    default: return `dial tcp ${address}: ${err?.message ?? String(err)}`
  }
}

function dialTcp (address, timeoutMs) {
  return new Promise((resolve, reject) => {
    let target
    try {
      target = splitHostPort(address)
    } catch (err) {
      reject(Object.assign(new Error(err.message), { goMessage: err.message }))
      return
    }
    const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
    let timer
    const fail = (err) => {
      clearTimeout(timer)
      socket.destroy()
      reject(Object.assign(err, { goMessage: goDialError(address, target.host, err) }))
    }
    if (timeoutMs > 0) {
      timer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'GOTIMEOUT' })), timeoutMs)
    }
    socket.once('error', fail)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeListener('error', fail)
      socket.setNoDelay(true)
      resolve(socket)
    })
  })
}

function encodeLine (obj) {
  return Buffer.from(JSON.stringify(obj) + '\n', 'utf8')
}

/**
 * Pipes a libp2p stream and a TCP socket both ways with backpressure and proper half-close:
 * a FIN on one side becomes a FIN on the other. A stream that closes without FIN (reset, or the
 * connection went away) destroys the socket (libp2p-wire.md §17). Resolves with byte counts.
 */
export function pipeStreamSocket (stream, socket, initialUp) {
  stream.maxReadBufferLength = PAUSED_READ_BUFFER
  let up = 0
  let down = 0
  let streamPaused = false
  let streamReadEnded = false
  let socketReadEnded = false
  let streamClosed = false
  let socketClosed = false
  let error
  return new Promise((resolve) => {
    const maybeDone = () => {
      if (streamClosed && socketClosed) {
        resolve({ up, down, error })
      }
    }
    const writeSocket = (buf) => {
      up += buf.byteLength
      if (!socket.write(buf) && !streamPaused && stream.readStatus === 'readable') {
        streamPaused = true
        stream.pause()
      }
    }
    if (initialUp != null && initialUp.byteLength > 0) writeSocket(initialUp)
    stream.addEventListener('message', (evt) => {
      for (const buf of pieces(evt.data)) writeSocket(buf)
    })
    socket.on('drain', () => {
      if (streamPaused && stream.readStatus === 'paused') {
        streamPaused = false
        stream.resume()
      }
    })
    const onStreamEnd = () => {
      if (streamReadEnded) return
      streamReadEnded = true
      socket.end()
    }
    stream.addEventListener('end', onStreamEnd)
    if (stream.readableEnded) onStreamEnd()
    stream.addEventListener('close', (evt) => {
      streamClosed = true
      if (evt.error != null || !streamReadEnded) {
        error ??= evt.error != null ? describeError(evt.error) : 'stream closed without FIN'
        socket.destroy()
      }
      maybeDone()
    })

    socket.on('data', (buf) => {
      down += buf.byteLength
      try {
        for (let off = 0; off < buf.byteLength; off += MAX_PIECE) {
          const piece = buf.subarray(off, Math.min(off + MAX_PIECE, buf.byteLength))
          if (!stream.send(piece) && stream.writableNeedsDrain) socket.pause()
        }
      } catch (err) {
        error ??= describeError(err)
        socket.destroy()
      }
    })
    stream.addEventListener('drain', () => { if (socket.isPaused()) socket.resume() })
    socket.on('end', () => {
      socketReadEnded = true
      stream.close().catch((err) => { error ??= describeError(err) })
    })
    socket.on('error', (err) => { error ??= describeError(err) })
    socket.on('close', () => {
      socketClosed = true
      if (!socketReadEnded || error != null) {
        stream.abort(new Error(error ?? 'origin connection closed without FIN'))
      }
      maybeDone()
    })
  })
}

/**
 * Handles /bethrou/proxy/1.0.0 like the Go node. With dropEarlyData (default, as Go's buffered
 * json.Decoder does) bytes that arrived in the same read as the request line are discarded and
 * reported through onEarlyData.
 */
export async function serveGoProxy (stream, { dropEarlyData = true, onEarlyData, onDone } = {}) {
  const start = performance.now()
  stream.maxReadBufferLength = PAUSED_READ_BUFFER
  const reader = new StreamReader(stream, PAUSED_READ_BUFFER)
  const info = { address: undefined, status: undefined, message: undefined }
  let request
  try {
    const line = await reader.readLine(MAX_REQUEST_LINE, AbortSignal.timeout(60_000))
    request = JSON.parse(line.toString('utf8'))
    if (request == null || typeof request !== 'object' || typeof request.address !== 'string') {
      throw new Error('request has no "address" string')
    }
  } catch (err) {
    info.status = 'error'
    info.message = `invalid request: ${describeError(err)}`
    reader.detach()
    await replyAndClose(stream, info.message)
    onDone?.({ ...info, up: 0, down: 0, ms: performance.now() - start })
    return
  }
  info.address = request.address
  // bytes already read past the request line: Go's decoder buffer swallows them
  const early = reader.takeBuffered()
  reader.detach()
  if (stream.readStatus === 'readable') stream.pause()
  if (early.byteLength > 0 && dropEarlyData) onEarlyData?.(early.byteLength)

  let socket
  try {
    const limit = Number.isInteger(request.connect_timeout_ms) && request.connect_timeout_ms > 0
      ? Math.min(10_000, request.connect_timeout_ms)
      : 0
    socket = await dialTcp(request.address, limit)
  } catch (err) {
    info.status = 'error'
    info.message = err.goMessage ?? describeError(err)
    await replyAndClose(stream, info.message)
    onDone?.({ ...info, up: 0, down: 0, ms: performance.now() - start })
    return
  }
  try {
    stream.send(encodeLine({ status: 'ok' }))
  } catch (err) {
    socket.destroy()
    onDone?.({ ...info, status: 'error', message: describeError(err), up: 0, down: 0, ms: performance.now() - start })
    return
  }
  info.status = 'ok'
  const piping = pipeStreamSocket(stream, socket, dropEarlyData ? undefined : early)
  if (stream.readStatus === 'paused') stream.resume()
  const result = await piping
  onDone?.({ ...info, ...result, ms: performance.now() - start })
}

async function replyAndClose (stream, message) {
  try {
    stream.send(encodeLine({ status: 'error', message }))
    await stream.close({ signal: AbortSignal.timeout(10_000) })
  } catch {
    stream.abort(new Error('failed to send error reply'))
    return
  }
  // like Go's deferred Close(): do not wait for the client to half-close forever
  const timer = setTimeout(() => {
    if (stream.status === 'open' || stream.status === 'closing') stream.abort(new Error('proxy request failed'))
  }, 10_000)
  timer.unref()
  stream.addEventListener('close', () => clearTimeout(timer))
}

/** /bethrou/ping/1.0.0: the Go node just closes the stream. */
export async function serveGoPing (stream) {
  await stream.close().catch(() => {})
}

function lengthPrefixed (text) {
  const body = Buffer.from(text, 'utf8')
  const len = []
  let n = body.byteLength
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n > 0) b |= 0x80
    len.push(b)
  } while (n > 0)
  return Buffer.concat([Buffer.from(len), body])
}

/**
 * Acts as a Go Bethrou client: opens /bethrou/proxy/1.0.0, sends the request line, reads the reply,
 * sends the payload, half-closes and reads the response until the node half-closes.
 *
 * lazy (default true) mimics go-multistream's lazy client: the multistream header, the protocol
 * and the request line leave in one write, before any answer (js's own newStream cannot do this).
 */
export async function goProxyClient (connection, {
  address, payload, connectTimeoutMs, lazy = true, halfClose = true, maxResponse = 64 * 1024 * 1024, signal
}) {
  const start = performance.now()
  const request = { address }
  if (connectTimeoutMs != null) request.connect_timeout_ms = connectTimeoutMs
  const requestLine = encodeLine(request)
  let stream
  if (lazy) {
    if (connection.muxer == null) throw new Error('connection has no muxer')
    stream = await connection.muxer.createStream({})
    stream.protocol = PROXY_PROTOCOL
  } else {
    stream = await connection.newStream(PROXY_PROTOCOL, { signal, runOnLimitedConnection: true })
  }
  const reader = new StreamReader(stream, maxResponse)
  try {
    if (lazy) {
      stream.send(Buffer.concat([lengthPrefixed(MULTISTREAM + '\n'), lengthPrefixed(PROXY_PROTOCOL + '\n'), requestLine]))
      const header = (await reader.readLengthPrefixed(1024, signal)).toString('utf8')
      if (header !== MULTISTREAM + '\n') throw new Error(`unexpected multistream header ${JSON.stringify(header)}`)
      const answer = (await reader.readLengthPrefixed(1024, signal)).toString('utf8')
      if (answer !== PROXY_PROTOCOL + '\n') {
        throw new Error(`protocol ${PROXY_PROTOCOL} not supported (remote answered ${JSON.stringify(answer.trimEnd())})`)
      }
    } else {
      stream.send(requestLine)
    }
    const replyLine = await reader.readLine(MAX_REQUEST_LINE, signal)
    const replyText = replyLine.toString('utf8')
    let reply
    try {
      reply = JSON.parse(replyText)
    } catch (err) {
      throw new Error(`reply is not JSON: ${JSON.stringify(replyText)}`)
    }
    if (reply.status !== 'ok') {
      // the node closes after an error; read whatever else it sends
      const rest = await reader.readToEnd(signal).catch(() => Buffer.alloc(0))
      return {
        status: reply.status, message: reply.message, reply: replyText, response: rest.toString('base64'),
        responseBytes: rest.byteLength, ms: performance.now() - start
      }
    }
    if (payload != null && payload.byteLength > 0) await sendAll(stream, payload, signal)
    if (halfClose) await stream.close({ signal })
    const response = await reader.readToEnd(signal)
    if (!halfClose) await stream.close({ signal })
    return {
      status: reply.status, message: reply.message, reply: replyText, response: response.toString('base64'),
      responseBytes: response.byteLength, ms: performance.now() - start
    }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    reader.detach()
  }
}
