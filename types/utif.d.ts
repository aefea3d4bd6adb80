// Types for the parts of UTIF.js 3.1 that Shoebox uses (the package ships none).
declare module 'utif' {
  export interface IFD {
    width: number;
    height: number;
    [tag: string]: unknown;
  }
  /** Parses the image file directories (headers only, no pixel data). */
  export function decode(buffer: ArrayBufferLike | Uint8Array): IFD[];
  export function decodeImage(buffer: ArrayBufferLike | Uint8Array, ifd: IFD): void;
  export function toRGBA8(ifd: IFD): Uint8Array;
  const UTIF: { decode: typeof decode; decodeImage: typeof decodeImage; toRGBA8: typeof toRGBA8 };
  export default UTIF;
}
