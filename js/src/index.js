// rmq: an Apache RocketMQ client, the rmq core compiled to WebAssembly.
export { Producer } from './producer.js';
export { PushConsumer, ConsumeResult } from './consumer.js';
export { LitePullConsumer } from './lite-pull.js';
export { MemoryOffsetStore, FileOffsetStore } from './offset-store.js';
export { RmqError } from './errors.js';
