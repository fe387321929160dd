/**
 * A labeler: `com.atproto.label.subscribeLabels` → `label_live`, one entry per label
 * (`event` = `{"type":"label","label":…,"seq":…}`). Starts at cursor 0 when none is stored.
 */
import { decodeFrame, labelsMessageToResult, type LabelsResult } from '@firehose/atproto'
import { encodeLabelEvent, type Label } from '@firehose/streams'
import { HostStream, type HostContext } from './host-stream.js'
import { errorLabel, typeLabel } from './metrics.js'

export class LabelerStream extends HostStream {
  constructor(ctx: HostContext, host: string) {
    super(ctx, host, 'com.atproto.label.subscribeLabels', ctx.config.labelStream, 'labeler')
  }

  protected defaultCursor(): number {
    return 0
  }

  protected handleFrame(bytes: Buffer): void {
    let res: LabelsResult
    let type: string
    try {
      const frame = decodeFrame(bytes)
      if (frame.kind === 'error') {
        this.countFrame('error')
        this.ctx.metrics.errorFrames.inc({ host: this.name, error: errorLabel(frame.error) })
        if (frame.error === 'FutureCursor') {
          this.log.error({ message: frame.message, cursor: this.resumeSeq }, 'FutureCursor: cursor ahead of the labeler; restarting from 0')
          this.resumeSeq = 0
        } else {
          this.log.error({ error: frame.error, message: frame.message }, 'error frame; reconnecting')
        }
        this.sub.reconnect(frame.error)
        return
      }
      type = frame.type
      res = labelsMessageToResult(frame.type, frame.body)
    } catch (err) {
      this.countFrame('undecodable')
      this.decodeError('frame', err, undefined, bytes.length)
      return
    }
    this.countFrame(typeLabel(type))
    switch (res.kind) {
      case 'labels': {
        const stream = this.ctx.config.labelStream
        for (const label of res.labels) {
          const entry = encodeLabelEvent({ type: 'label', label: label as Label, seq: res.seq })
          this.checkpoint.track(stream, this.ctx.producer.add(stream, ['event', entry]))
        }
        const last = res.labels[res.labels.length - 1]
        if (last) this.lastTime = last.cts
        this.handled(res.seq)
        return
      }
      case 'info':
        this.ctx.metrics.infoMessages.inc({ host: this.name, name: errorLabel(res.name) })
        this.log.warn({ name: res.name, message: res.message }, '#info message from labeler')
        return
      case 'unknown':
        if (res.seq !== undefined) this.handled(res.seq)
        return
    }
  }
}
