/** A model's description as the engine's pure functions take it (lib/core/model-info), for tests without a database. */
import type { ModelInfo } from '../../lib/core/model-info';

/** A plain model: no timestamps, not financial, no reverseCreate, no validation, nothing hidden, unless `extra` says so. */
export function modelInfo(identity: string, attributes: ModelInfo['attributes'], extra: Partial<ModelInfo> = {}): ModelInfo {
  return { identity, primaryKey: 'id', attributes, createdAt: null, updatedAt: null, financial: false, reverseCreate: null, validate: null, hidden: [], uniqueKeys: [], ...extra };
}
