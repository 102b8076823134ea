// /bethrou/test/echo/1.0.0: the responder echoes every byte and half-closes after the remote does.
import { createHash } from 'node:crypto'
import { KeyStream, MAX_PIECE, PAUSED_READ_BUFFER, describeError, pieces, waitDrain } from './streams.mjs'

export const ECHO_PROTOCOL = '/bethrou/test/echo/1.0.0'

/**
 * Echo responder. Writes back in pieces of at most MAX_PIECE and pauses reading while the
 * write side waits for 'drain', so at most one yamux window is buffered per stream.
 * Resolves with { bytes, ms, error? } when the stream is finished.
 */
export function serveEcho (stream) {
  stream.maxReadBufferLength = PAUSED_READ_BUFFER
  const start = performance.now()
  let bytes = 0
  let paused = false
  return new Promise((resolve) => {
    let settled = false
    const finish = (error) => {
      if (settled) return
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      resolve({ bytes, ms: performance.now() - start, error })
    }
    const onMessage = (evt) => {
      try {
        for (const buf of pieces(evt.data)) {
          for (let off = 0; off < buf.byteLength; off += MAX_PIECE) {
            const piece = buf.subarray(off, Math.min(off + MAX_PIECE, buf.byteLength))
            bytes += piece.byteLength
            if (!stream.send(piece) && stream.writableNeedsDrain && !paused) {
              paused = true
              stream.pause()
            }
          }
        }
      } catch (err) {
        stream.abort(err)
        finish(describeError(err))
      }
    }
    const onDrain = () => {
      if (paused && stream.readStatus === 'paused') {
        paused = false
        stream.resume()
      }
    }
    const onEnd = () => {
      stream.close().then(() => finish(), (err) => finish(describeError(err)))
    }
    const onClose = (evt) => finish(evt.error == null ? undefined : describeError(evt.error))
    stream.addEventListener('message', onMessage)
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    if (stream.readableEnded) onEnd()
  })
}

/**
 * Opens one stream, sends `bytes` seeded pseudo-random bytes in ≤64 KiB pieces (respecting drain),
 * half-closes, reads the echo and verifies it byte for byte against the same keystream.
 */
export async function echoOnce (connection, { protocol, bytes, index, seed, signal }) {
  const stream = await connection.newStream(protocol, { signal, runOnLimitedConnection: true })
  stream.maxReadBufferLength = PAUSED_READ_BUFFER
  const sendStream = new KeyStream(seed, index)
  const expectStream = new KeyStream(seed, index)
  const sentHash = createHash('sha256')
  const recvHash = createHash('sha256')
  let received = 0
  let mismatchAt = -1
  const start = performance.now()

  const reading = new Promise((resolve, reject) => {
    let settled = false
    const finish = (err) => {
      if (settled) return
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onMessage = (evt) => {
      for (const buf of pieces(evt.data)) {
        recvHash.update(buf)
        if (mismatchAt < 0) {
          for (let off = 0; off < buf.byteLength && mismatchAt < 0; off += MAX_PIECE) {
            const part = buf.subarray(off, Math.min(off + MAX_PIECE, buf.byteLength))
            const expected = received + off < bytes
              ? expectStream.next(Math.min(part.byteLength, bytes - received - off))
              : Buffer.alloc(0)
            if (expected.byteLength !== part.byteLength || Buffer.compare(expected, part) !== 0) {
              let i = 0
              while (i < expected.byteLength && i < part.byteLength && expected[i] === part[i]) i++
              mismatchAt = received + off + i
            }
          }
        }
        received += buf.byteLength
      }
      if (received > bytes) {
        const err = new Error(`echo returned more bytes than sent: ${received} > ${bytes}`)
        stream.abort(err)
        finish(err)
      }
    }
    const onEnd = () => finish()
    const onClose = (evt) => {
      if (evt.error != null) finish(evt.error)
      else if (!stream.readableEnded) finish(new Error(`stream closed without the remote's FIN after ${received} of ${bytes} bytes (connection closed?)`))
      else finish()
    }
    const onAbort = () => {
      const err = signal.reason ?? new Error('aborted')
      stream.abort(err)
      finish(err)
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
  // surface read errors even while the writer is still busy
  reading.catch(() => {})

  try {
    for (let off = 0; off < bytes; off += MAX_PIECE) {
      const piece = sendStream.next(Math.min(MAX_PIECE, bytes - off))
      sentHash.update(piece)
      if (!stream.send(piece) && stream.writableNeedsDrain) {
        await waitDrain(stream, signal)
      }
    }
    await stream.close({ signal })
    await reading
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }

  const ms = performance.now() - start
  const sent = sentHash.digest('hex')
  const got = recvHash.digest('hex')
  const ok = received === bytes && mismatchAt < 0 && sent === got
  const result = {
    ok,
    bytes,
    received,
    ms: round(ms),
    mbps: round(bytes * 8 / 1e6 / (ms / 1000)),
    MBps: round(bytes / 1e6 / (ms / 1000)),
    sha256Sent: sent,
    sha256Received: got
  }
  if (!ok) {
    result.error = received !== bytes
      ? `echo returned ${received} of ${bytes} bytes` + (mismatchAt >= 0 ? `, first mismatch at offset ${mismatchAt}` : '')
      : `echo differs from what was sent, first mismatch at offset ${mismatchAt}`
  }
  return result
}

export function round (x) {
  return Math.round(x * 1000) / 1000
}
