// A minimal browser upload page at /upload-page: Uppy with its tus plugin,
// uploading to this gateway's /files/. The page contains no credentials: the
// user types a bearer token into it, or a script calls setToken().

import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const UPPY_DIST = join(dirname(require.resolve('uppy/package.json')), 'dist');

export const PAGE_PATH = '/upload-page';

const HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shoebox upload</title>
</head>
<body>
  <h1>Shoebox upload</h1>
  <p><label>Bearer token <input id="token" type="password" autocomplete="off"></label></p>
  <p><input id="file" type="file" accept="image/*"></p>
  <pre id="status">idle</pre>
  <script src="${PAGE_PATH}/uppy.min.js"></script>
  <script>
    const statusLine = document.getElementById('status');
    const tokenField = document.getElementById('token');
    const uppy = new Uppy.Uppy({ autoProceed: false });
    uppy.use(Uppy.Tus, {
      endpoint: '/files/',
      chunkSize: 5 * 1024 * 1024,
      retryDelays: [0, 1000, 3000],
      onBeforeRequest: (request) => request.setHeader('authorization', 'Bearer ' + tokenField.value),
    });
    uppy.on('upload-progress', (file, progress) => (statusLine.textContent = 'uploading ' + progress.bytesUploaded + '/' + progress.bytesTotal));
    uppy.on('complete', (result) => {
      window.shoeboxResult = {
        successful: result.successful.map((f) => ({ name: f.name, uploadURL: f.response && f.response.uploadURL })),
        failed: result.failed.map((f) => ({ name: f.name, error: String(f.error) })),
      };
      statusLine.textContent = JSON.stringify(window.shoeboxResult);
    });
    window.setToken = (token) => (tokenField.value = token);
    document.getElementById('file').addEventListener('change', (event) => {
      for (const file of event.target.files) uppy.addFile({ name: file.name, type: file.type, data: file });
      uppy.upload();
    });
  </script>
</body>
</html>
`;

export function registerPage(app: FastifyInstance): void {
  app.get(PAGE_PATH, { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(HTML));
  app.get(`${PAGE_PATH}/uppy.min.js`, { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(createReadStream(join(UPPY_DIST, 'uppy.min.js'))),
  );
}
