// The service payloads' codec is the one value codec of ringflow/codec (see src/codec/values).
export { PayloadEncoder, PayloadDecoder, payloadEncoder, payloadDecoder } from '../codec/values/index.js';
