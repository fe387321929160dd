/**
 * CID helpers for the hot paths: synchronous SHA-256 (node:crypto), CID ↔ block checks without
 * building CID objects, and a cheap map key for binary CIDs.
 */
import { hash } from 'node:crypto'
import { toBase32 } from '@atcute/multibase'
import { sha256Into, sha256WordsEqual } from './sha256.js'

export const CODEC_DCBOR = 0x71
export const CODEC_RAW = 0x55
const HASH_SHA256 = 0x12

/** `b` + base32 of the binary CID: the atproto string form of a CIDv1. */
export const cidBytesToString = (bytes: Uint8Array): string => `b${toBase32(bytes)}`

export const sha256 = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer')

/** Byte equality of two binary CIDs (or any two byte strings). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

/**
 * True when `cid` (36-byte binary CIDv1: version, codec, sha2-256, length 32, digest) is a
 * sha256 CID with the dag-cbor or raw codec whose digest is the sha256 of `data`.
 */
export const cidMatchesBytes = (cid: Uint8Array, data: Uint8Array): boolean => {
  if (cid.length !== 36 || cid[0] !== 1 || cid[2] !== HASH_SHA256 || cid[3] !== 32) return false
  if (cid[1] !== CODEC_DCBOR && cid[1] !== CODEC_RAW) return false
  sha256Into(data)
  return sha256WordsEqual(cid, 4)
}

/** Binary CIDv1 (dag-cbor, sha256) of a block. */
export const cidForDagCbor = (data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(36)
  out[0] = 1
  out[1] = CODEC_DCBOR
  out[2] = HASH_SHA256
  out[3] = 32
  out.set(sha256(data), 4)
  return out
}

/** A string key for a binary CID, cheap to compute (latin1 of the bytes; not for display). */
export const cidKey = (cid: Uint8Array): string => Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('latin1')
