export { FileDedupStore, type FileDedupStoreOptions } from "./file-dedup-store.js";
export { FileEventStore, type FileEventStoreOptions } from "./file-event-store.js";
