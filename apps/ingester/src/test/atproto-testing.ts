// `@firehose/atproto` does not export its `testing` module (package.json has only "."):
// reach the built file directly until it does.
export {
  buildCommitFrame,
  buildSignedRepo,
  encodeErrorFrame,
  encodeMessageFrame,
  generateRecords,
  nextTid,
} from '../../../../packages/atproto/dist/testing.js'
