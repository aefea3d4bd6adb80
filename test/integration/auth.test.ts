// Bearer tokens and tenant isolation on both edges.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

import { createClient, uploadFile } from '../../nodes/client/upload.js';
import type { UploadServiceClient } from '../../proto/gen/shoebox/v1/upload.js';
import { corpusFile } from '../corpus.js';
import { authHeaders, otherToken, startNode, type RunningNode } from './harness.js';

function getMedia(client: UploadServiceClient, mediaId: string): Promise<ServiceError | undefined> {
  return new Promise((resolve) => client.getMedia({ mediaId }, (error) => resolve(error ?? undefined)));
}

describe('authentication', () => {
  let node: RunningNode;
  let mediaId: string;
  before(async () => {
    node = await startNode();
    const outcome = await uploadFile(node.client, corpusFile('photos/rocket.jpg'));
    assert.equal(outcome.status, 'ready', outcome.reason);
    mediaId = outcome.mediaId;
  });
  after(async () => {
    await node?.stop();
  });

  it('rejects HTTP without a token with 401', async () => {
    const response = await fetch(`${node.httpBase}/media/${mediaId}`);
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'UNAUTHENTICATED');
    assert.match(body.error.message, /no bearer token/);
  });

  it('rejects HTTP with an unknown token with 401', async () => {
    const response = await fetch(`${node.httpBase}/media/${mediaId}`, { headers: { authorization: 'Bearer sbx_nope' } });
    assert.equal(response.status, 401);
  });

  it('serves the owner with its token', async () => {
    const response = await fetch(`${node.httpBase}/media/${mediaId}`, { headers: authHeaders });
    assert.equal(response.status, 200);
  });

  it('hides media from another tenant with 404', async () => {
    const response = await fetch(`${node.httpBase}/media/${mediaId}`, { headers: { authorization: `Bearer ${otherToken}` } });
    assert.equal(response.status, 404);
    const variant = await fetch(`${node.httpBase}/media/${mediaId}/thumb-256.webp`, { headers: { authorization: `Bearer ${otherToken}` } });
    assert.equal(variant.status, 404);
  });

  it('rejects gRPC without a token', async () => {
    const anonymous = createClient(node.grpcAddress);
    const error = await getMedia(anonymous, mediaId);
    anonymous.close();
    assert.equal(error?.code, GrpcStatus.UNAUTHENTICATED);
  });

  it('hides media from another tenant over gRPC', async () => {
    const other = createClient(node.grpcAddress, otherToken);
    const error = await getMedia(other, mediaId);
    other.close();
    assert.equal(error?.code, GrpcStatus.NOT_FOUND);
  });

  it('rejects an upload without a token', async () => {
    const anonymous = createClient(node.grpcAddress);
    const outcome = await uploadFile(anonymous, corpusFile('photos/rocket.jpg'), { maxAttempts: 1 });
    anonymous.close();
    assert.equal(outcome.status, 'rejected');
    assert.equal(outcome.errorCode, 'UNAUTHENTICATED');
  });

  it('leaves health and metrics open', async () => {
    assert.equal((await fetch(`${node.httpBase}/healthz`)).status, 200);
    assert.equal((await fetch(`${node.httpBase}/metrics`)).status, 200);
  });
});
