// Helpers for js-libp2p v3 message streams (event based: send()/'message'/'drain'/'close').
import { createCipheriv, createHash } from 'node:crypto'

/** Largest piece handed to stream.send() at once (see libp2p-wire.md §17: pnet WASM memory). */
export const MAX_PIECE = 64 * 1024

/**
 * Every stream buffers at most this much unread data while paused before js aborts it. Yamux
 * windows grow to 16 MiB, so a paused reader must tolerate that much in flight.
 */
export const PAUSED_READ_BUFFER = 32 * 1024 * 1024

/** Iterates the Uint8Array pieces of a Uint8Array or Uint8ArrayList. */
export function * pieces (data) {
  if (data instanceof Uint8Array) {
    yield data
  } else {
    yield * data
  }
}

/**
 * Resolves on the stream's next 'drain' event, rejects when it closes first or the signal aborts.
 * Waits for the event itself: @libp2p/utils stream.onDrain() works only once (§17).
 */
export function waitDrain (stream, signal) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = () => { cleanup(); resolve() }
    const onClose = (evt) => {
      cleanup()
      reject(evt.error ?? new Error(`stream closed (status ${stream.status}) while waiting for it to drain`))
    }
    const onAbort = () => { cleanup(); reject(signal.reason ?? new Error('aborted')) }
    if (signal?.aborted) { onAbort(); return }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/** Sends data in pieces of at most MAX_PIECE bytes, waiting for 'drain' whenever js asks to. */
export async function sendAll (stream, data, signal) {
  for (let off = 0; off < data.byteLength; off += MAX_PIECE) {
    const piece = data.subarray(off, Math.min(off + MAX_PIECE, data.byteLength))
    if (!stream.send(piece) && stream.writableNeedsDrain) {
      await waitDrain(stream, signal)
    }
  }
}

/**
 * Reads a stream until the remote half-closes. Resolves with the bytes (Buffer), rejects when the
 * stream is reset/aborted, more than maxBytes arrive, or the signal aborts.
 */
export function readAll (stream, maxBytes, signal) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let total = 0
    let settled = false
    const finish = (err) => {
      if (settled) return
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve(Buffer.concat(chunks, total))
    }
    const onMessage = (evt) => {
      for (const buf of pieces(evt.data)) {
        total += buf.byteLength
        if (total > maxBytes) {
          const err = new Error(`received more than ${maxBytes} bytes`)
          stream.abort(err)
          finish(err)
          return
        }
        chunks.push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength))
      }
    }
    const onEnd = () => finish()
    const onClose = (evt) => finish(evt.error)
    const onAbort = () => {
      const err = signal.reason ?? new Error('aborted')
      stream.abort(err)
      finish(err)
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
    if (stream.readableEnded) finish()
  })
}

/**
 * Deterministic pseudo-random byte source: AES-256-CTR keystream keyed by sha256(seed/index).
 * Two instances with the same seed and index produce the same bytes.
 */
export class KeyStream {
  #cipher
  #zeros = Buffer.alloc(MAX_PIECE)
  constructor (seed, index) {
    const key = createHash('sha256').update(`bethrou-echo/${seed}/${index}`).digest()
    this.#cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  }

  /** Next n bytes (n ≤ MAX_PIECE). */
  next (n) {
    return this.#cipher.update(this.#zeros.subarray(0, n))
  }
}

/** Formats any thrown value as text, keeping js's own error names, messages and nested causes. */
export function describeError (err) {
  if (err == null) return 'unknown error'
  if (!(err instanceof Error)) return String(err)
  let text = err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message
  if (err.code != null && !text.includes(err.code)) text += ` (${err.code})`
  if (Array.isArray(err.errors) && err.errors.length > 0) {
    text += ' [' + err.errors.map(describeError).join('; ') + ']'
  }
  if (err.cause != null && err.cause !== err) {
    text += ` (cause: ${describeError(err.cause)})`
  }
  return text
}
