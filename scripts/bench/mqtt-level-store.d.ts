// mqtt-level-store@3 ships no types; this is the part the bench uses.
declare module 'mqtt-level-store' {
  // Typed as mqtt's Store because IClientOptions.incomingStore/outgoingStore are declared that way.
  import type { Store } from 'mqtt';

  interface Manager {
    incoming: Store;
    outgoing: Store;
    close(done: (err?: Error) => void): void;
  }

  function levelStore(path: string, options?: Record<string, unknown>): Manager;
  export = levelStore;
}
