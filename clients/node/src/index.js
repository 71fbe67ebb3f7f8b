// hookbay — the Node.js client of the hookbay webhook relay.
export { Consumer, VERSION } from './consumer.js';
export { Message } from './message.js';
export {
  HookbayError,
  AuthError,
  NotFound,
  LeaseExpired,
  Unavailable,
  RateLimited,
  InvalidRequest,
  Reject,
  Retry,
} from './errors.js';
export { SseParser, parseEventStream } from './sse.js';
export { backoffDelay } from './util.js';
