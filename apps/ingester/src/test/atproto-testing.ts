// `@firehose/atproto` does not export its `testing` module (package.json has only "."):
// reach the built file directly until it does.
export {
  buildCommitChain,
  buildCommitFrame,
  buildSignedRepo,
  encodeErrorFrame,
  encodeMessageFrame,
  generateRecords,
  nextTid,
} from '../../../../packages/atproto/dist/testing.js'
