// Uppy with its tus plugin, in headless Chromium, uploading from the page
// the gateway serves.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { chromium, type Browser } from 'playwright-core';

import { waitForFinal } from '../../nodes/client/upload.js';
import { MediaStatus } from '../../proto/gen/shoebox/v1/upload.js';
import { corpusFile } from '../corpus.js';
import { authHeaders, startNode, testToken, type RunningNode } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';

describe('Uppy in Chromium', () => {
  let node: RunningNode;
  let browser: Browser;

  before(async () => {
    node = await startNode();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // This machine has no network but loopback: keep Chromium from trying.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  it('uploads a photo that ends ready', async () => {
    const page = await browser.newPage();
    await page.goto(`${node.httpBase}/upload-page`);
    await page.evaluate((token) => (globalThis as unknown as { setToken: (t: string) => void }).setToken(token), testToken);
    await page.setInputFiles('#file', corpusFile('photos/olympus-em1-path.jpg'));
    await page.waitForFunction(() => (globalThis as unknown as { shoeboxResult?: unknown }).shoeboxResult !== undefined, undefined, { timeout: 60_000 });
    const result = (await page.evaluate(() => (globalThis as unknown as { shoeboxResult: unknown }).shoeboxResult)) as {
      successful: Array<{ uploadURL: string }>;
      failed: Array<{ error: string }>;
    };
    assert.deepEqual(result.failed, []);
    assert.equal(result.successful.length, 1);

    const path = new URL(result.successful[0]!.uploadURL, node.httpBase).pathname;
    const head = await fetch(`${node.httpBase}${path}`, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0', ...authHeaders } });
    const mediaId = head.headers.get('shoebox-media-id')!;
    const media = await waitForFinal(node.client, mediaId);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
    assert.ok(media.variants.length >= 4);
    await page.close();
  });
});
