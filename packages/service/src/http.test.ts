import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, readCommon } from './config.js'
import { startHttpServer } from './http.js'
import { createRegistry } from './metrics.js'

describe('METRICS_HOST', () => {
  it('defaults to loopback; takes an IP address; anything else stops start-up naming the variable', () => {
    expect(parseConfig({}, readCommon).metricsHost).toBe('127.0.0.1')
    expect(parseConfig({ METRICS_HOST: '0.0.0.0' }, readCommon).metricsHost).toBe('0.0.0.0')
    expect(parseConfig({ METRICS_HOST: '::' }, readCommon).metricsHost).toBe('::')
    expect(() => parseConfig({ METRICS_HOST: 'example.com' }, readCommon)).toThrow(ConfigError)
    expect(() => parseConfig({ METRICS_HOST: '0.0.0.0:9090' }, readCommon)).toThrow(/METRICS_HOST/)
  })

  it('the metrics server binds the address it is given, loopback when none', async () => {
    for (const [host, expected] of [
      [undefined, '127.0.0.1'],
      ['127.0.0.2', '127.0.0.2'],
    ] as const) {
      const http = await startHttpServer({ port: 0, registry: createRegistry('svctest'), ...(host ? { host } : {}) })
      try {
        expect((http.server.address() as AddressInfo).address).toBe(expected)
        expect((await fetch(`http://${expected}:${http.port}/health`)).status).toBe(200)
      } finally {
        await http.close()
      }
    }
  })
})
