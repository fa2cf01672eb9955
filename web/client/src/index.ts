// parley-client: see client.ts (Connection) and session.ts (Session). In browsers import
// browser.ts instead (no Node modules).
export * from "./browser.js";
export { tcpTransport } from "./tcp.js";
