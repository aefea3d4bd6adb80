import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadConfig } from '../../nodes/common/config.js';
import { ERROR_CATALOG, ShoeboxError, UploadOffsetMismatchError, fromSerialized } from '../../nodes/common/errors.js';
import { qualify } from '../../storage/cassandra.js';

const BASE = { SHOEBOX_S3_ACCESS_KEY_ID: 'k', SHOEBOX_S3_SECRET_ACCESS_KEY: 's' };

describe('error catalog', () => {
  it('gives every code a client or server HTTP status', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
      assert.ok(entry.http >= 400, `${code}: ${entry.http}`);
      assert.ok(entry.http < 600, `${code}: ${entry.http}`);
      assert.ok(entry.summary.endsWith('.'), `${code} summary is a sentence`);
    }
  });

  it('survives a trip through plain data', () => {
    const error = new UploadOffsetMismatchError('u1', 10, 20);
    const copy = fromSerialized(JSON.parse(JSON.stringify(error.toJSON())));
    assert.ok(copy instanceof ShoeboxError);
    assert.equal(copy.code, 'UPLOAD_OFFSET_MISMATCH');
    assert.equal(copy.httpStatus, 409);
    assert.match(copy.message, /offset 10 .* offset 20/);
  });

  it('maps unknown codes to INTERNAL', () => {
    assert.equal(fromSerialized({ code: 'NOPE' as never, message: 'm', details: {} }).code, 'INTERNAL');
  });
});

describe('loadConfig', () => {
  it('uses defaults', () => {
    const config = loadConfig({ ...BASE, SHOEBOX_STATE_DIR: '/nonexistent-shoebox-state' });
    assert.equal(config.grpcAddress, '127.0.0.1:50051');
    assert.equal(config.upload.partSize, 8 * 1024 * 1024);
    assert.deepEqual(config.image.variantSizes, [256, 1024, 2048]);
  });

  it('rejects a part size below the S3 minimum, naming the key', () => {
    assert.throws(() => loadConfig({ ...BASE, SHOEBOX_PART_SIZE: '1024' }), /SHOEBOX_PART_SIZE="1024" must be between 5242880/);
  });

  it('rejects a non-numeric value', () => {
    assert.throws(() => loadConfig({ ...BASE, SHOEBOX_MAX_PIXELS: '10e6' }), /SHOEBOX_MAX_PIXELS="10e6" must be a non-negative decimal integer/);
  });

  it('rejects a malformed address', () => {
    assert.throws(() => loadConfig({ ...BASE, SHOEBOX_HTTP_ADDRESS: 'localhost' }), /SHOEBOX_HTTP_ADDRESS="localhost" must be host:port/);
  });

  it('requires S3 credentials', () => {
    assert.throws(
      () => loadConfig({ SHOEBOX_STATE_DIR: '/nonexistent-shoebox-state', SHOEBOX_S3_ACCESS_KEY_ID: '', SHOEBOX_S3_SECRET_ACCESS_KEY: 's' }),
      /SHOEBOX_S3_ACCESS_KEY_ID is required/,
    );
  });
});

describe('qualify', () => {
  const cases: Array<[string, string]> = [
    ['CREATE TABLE IF NOT EXISTS media (id uuid PRIMARY KEY)', 'CREATE TABLE IF NOT EXISTS ks.media (id uuid PRIMARY KEY)'],
    ['ALTER TABLE media ADD IF NOT EXISTS crc32c int', 'ALTER TABLE ks.media ADD IF NOT EXISTS crc32c int'],
    ['DROP TABLE IF EXISTS upload_locks', 'DROP TABLE IF EXISTS ks.upload_locks'],
    ['DROP TABLE upload_locks', 'DROP TABLE ks.upload_locks'],
    ['ALTER TABLE other.media ADD x int', 'ALTER TABLE other.media ADD x int'],
  ];
  for (const [statement, expected] of cases) {
    it(`qualifies ${statement.split(' (')[0]}`, () => {
      assert.equal(qualify(statement, 'ks'), expected);
    });
  }
});
