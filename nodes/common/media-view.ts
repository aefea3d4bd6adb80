// The public view of a media item, shared by the HTTP and gRPC edges. GPS and
// the tenant never appear here.

import { MediaStatus as ProtoStatus, type Media as ProtoMedia } from '../../proto/gen/shoebox/v1/upload.js';
import type { MediaRecord, MediaStatus, PublicExif } from '../../storage/media.js';

export interface PublicVariant {
  name: string;
  contentType: string;
  width: number;
  height: number;
  length: number;
  url: string;
}

export interface PublicMedia {
  mediaId: string;
  status: MediaStatus;
  filename: string;
  contentType: string;
  length: number;
  sha256: string;
  width: number;
  height: number;
  exif: PublicExif;
  variants: PublicVariant[];
  errorCode?: string;
  reason?: string;
  createdAt: string;
  updatedAt: string;
}

export function toPublicMedia(record: MediaRecord, baseUrl: string): PublicMedia {
  const view: PublicMedia = {
    mediaId: record.mediaId,
    status: record.status,
    filename: record.filename,
    contentType: record.contentType,
    length: record.length,
    sha256: record.sha256,
    width: record.width,
    height: record.height,
    exif: {
      ...(record.exif.make ? { make: record.exif.make } : {}),
      ...(record.exif.model ? { model: record.exif.model } : {}),
      ...(record.exif.capturedAt ? { capturedAt: record.exif.capturedAt } : {}),
      ...(record.exif.orientation ? { orientation: record.exif.orientation } : {}),
    },
    variants:
      record.status === 'ready'
        ? record.variants.map((v) => ({
            name: v.name,
            contentType: v.contentType,
            width: v.width,
            height: v.height,
            length: v.length,
            url: `${baseUrl}/media/${record.mediaId}/${v.name}`,
          }))
        : [],
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
  if (record.errorCode) view.errorCode = record.errorCode;
  if (record.reason) view.reason = record.reason;
  return view;
}

const TO_PROTO_STATUS: Record<MediaStatus, ProtoStatus> = {
  receiving: ProtoStatus.MEDIA_STATUS_RECEIVING,
  received: ProtoStatus.MEDIA_STATUS_RECEIVED,
  scanning: ProtoStatus.MEDIA_STATUS_SCANNING,
  processing: ProtoStatus.MEDIA_STATUS_PROCESSING,
  ready: ProtoStatus.MEDIA_STATUS_READY,
  quarantined: ProtoStatus.MEDIA_STATUS_QUARANTINED,
  failed: ProtoStatus.MEDIA_STATUS_FAILED,
};

export function toProtoStatus(status: MediaStatus): ProtoStatus {
  return TO_PROTO_STATUS[status];
}

export function fromProtoStatus(status: ProtoStatus): MediaStatus | undefined {
  return (Object.keys(TO_PROTO_STATUS) as MediaStatus[]).find((key) => TO_PROTO_STATUS[key] === status);
}

export function toProtoMedia(view: PublicMedia): ProtoMedia {
  return {
    mediaId: view.mediaId,
    status: toProtoStatus(view.status),
    filename: view.filename,
    contentType: view.contentType,
    length: view.length,
    sha256: view.sha256,
    width: view.width,
    height: view.height,
    variants: view.variants,
    exif: {
      make: view.exif.make ?? '',
      model: view.exif.model ?? '',
      capturedAt: view.exif.capturedAt ?? '',
      orientation: view.exif.orientation ?? 0,
    },
    errorCode: view.errorCode ?? '',
    reason: view.reason ?? '',
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
  };
}
