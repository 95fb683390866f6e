declare module 'xml-encryption' {
  export interface DecryptOptions {
    key: string | Buffer;
    disallowDecryptionWithInsecureAlgorithm?: boolean;
    warnInsecureAlgorithm?: boolean;
  }
  export function decrypt(xml: string, options: DecryptOptions, callback: (error: Error | null, result?: string) => void): void;
}
