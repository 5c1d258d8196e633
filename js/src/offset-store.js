// Where broadcasting consumers keep their offsets. In broadcasting mode
// every consumer reads every queue, so offsets are the client's own, not
// the group's on the broker (Java: LocalFileOffsetStore). The core hands
// the host a snapshot of them (Java's offsets.json bytes) every persist
// interval while they move and once at shutdown; the host stores it whole
// and gives it back at the next start.
//
// `key` is `<clientId>/<group>` — the path Java and the Rust host use under
// their offset directory (`<dir>/<clientId>/<group>/offsets.json`).

/**
 * Keeps snapshots in memory, for the life of the process: a consumer
 * restarted in the same process resumes; a new process starts afresh
 * (from `consumeFrom`). The default store.
 */
export class MemoryOffsetStore {
  #snapshots = new Map();

  /** The bytes last saved under `key`, or undefined. */
  load(key) {
    return this.#snapshots.get(key);
  }

  /** Replaces what is kept under `key`. */
  save(key, bytes) {
    this.#snapshots.set(key, bytes.slice());
  }
}

/** The store consumers get when they name none (one per process). */
export const defaultOffsetStore = new MemoryOffsetStore();

/**
 * Keeps snapshots in files, as the Rust host and Java do:
 * `<dir>/<clientId>/<group>/offsets.json`, written atomically (a
 * temporary file, then a rename). Node and Deno (node:fs); not in
 * browsers. `dir` defaults to `~/.rocketmq_offsets` (Java's
 * `rocketmq.client.localOffsetStoreDir`).
 */
export class FileOffsetStore {
  #dir;

  constructor(dir) {
    this.#dir = dir;
  }

  async #paths(key) {
    const path = await import('node:path');
    let dir = this.#dir;
    if (dir === undefined) {
      const os = await import('node:os');
      dir = path.join(os.homedir(), '.rocketmq_offsets');
    }
    const parts = key.split('/').map((p) => p.replace(/[\\/]/g, '_'));
    const file = path.join(dir, ...parts, 'offsets.json');
    return { file, folder: path.dirname(file) };
  }

  /** The stored bytes, or undefined when there is no file yet. */
  async load(key) {
    const fs = await import('node:fs/promises');
    const { file } = await this.#paths(key);
    try {
      return new Uint8Array(await fs.readFile(file));
    } catch (e) {
      if (e?.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Writes `bytes` to a temporary file, then renames it over the old one. */
  async save(key, bytes) {
    const fs = await import('node:fs/promises');
    const { file, folder } = await this.#paths(key);
    await fs.mkdir(folder, { recursive: true });
    const tmp = `${file}.tmp-${globalThis.process?.pid ?? 0}-${Date.now()}`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
  }
}
