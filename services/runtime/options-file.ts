/** Reading a file an option names, with the error every such option gives. */
import { readFile } from 'node:fs/promises';
import { ErrorCode, InputError, show } from '../../lib/index.ts';

/**
 * The text of the file at `path`, named by option `field`.
 * @throws InputError code InvalidOptions naming the field and the path when it cannot be read.
 */
export async function readOptionsFile(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(ErrorCode.InvalidOptions, `${field} cannot be read: ${show(path)}`, {
      field,
      cause: err,
    });
  }
}
