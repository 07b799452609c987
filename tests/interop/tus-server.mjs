// An independent tus 1.0 server for tests/interop/test_tus_interop.py: @tus/server with
// @tus/file-store, on 127.0.0.1, no authentication, uploads under /files.
//
// Usage: node tus-server.mjs DIRECTORY [PORT]
//   DIRECTORY  where @tus/file-store keeps each upload (ID) and its metadata (ID.json)
//   PORT       TCP port on 127.0.0.1; 0 or absent picks a free one
// Prints one line "tus-server ready http://127.0.0.1:PORT/files/" once listening; exits 0 on
// SIGTERM or SIGINT, 2 on bad arguments, 1 if it cannot listen.
import process from "node:process";
import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const [directory, portArg = "0"] = process.argv.slice(2);
const port = Number(portArg);
if (!directory || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write("usage: node tus-server.mjs DIRECTORY [PORT]\n");
  process.exit(2);
}

const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
const http = tus.listen(port, "127.0.0.1", () => {
  process.stdout.write(`tus-server ready http://127.0.0.1:${http.address().port}/files/\n`);
});
http.on("error", (error) => {
  process.stderr.write(`tus-server cannot listen: ${error.message}\n`);
  process.exit(1);
});

function stop() {
  http.close();
  http.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
