/** The models the engine may write, described once each (lib/core/model-info.ts), and the hook's log model. */
import { TransactError } from '../core/errors';
import { describeModel, type ModelInfo } from '../core/model-info';
import { LOG_IDENTITY } from '../models/hook-models';
import type { WaterlineModel } from '../core/waterline';

export class ModelCatalog {
  private readonly infos = new Map<string, ModelInfo>();

  constructor(
    /** The Waterline model of an identity, any model (the hook's own included). */
    readonly waterline: (identity: string) => WaterlineModel | undefined,
  ) {}

  /** A model the engine may write: any app model; never the hook's own log and lock models. */
  infoOf(identity: string): ModelInfo | undefined {
    const cached = this.infos.get(identity);
    if (cached !== undefined) return cached;
    const model = typeof identity === 'string' ? this.waterline(identity) : undefined;
    if (model === undefined || model === null || typeof model.attributes !== 'object' || model.transactInternal === true) return undefined;
    const info = describeModel(model);
    this.infos.set(identity, info);
    return info;
  }

  /** infoOf for models already checked (by validation, or because a log names them). */
  readonly knownInfo = (identity: string): ModelInfo => this.infoOf(identity) as ModelInfo;

  requireModel(model: string): ModelInfo {
    const info = this.infoOf(model);
    if (info === undefined) throw new TransactError('unknown_model', `no transactional model "${model}"`, { path: 'model' });
    return info;
  }

  logModel(): WaterlineModel {
    const model = this.waterline(LOG_IDENTITY);
    if (model === undefined) throw new Error(`sails-hook-transact: the log model "${LOG_IDENTITY}" is not registered`);
    return model;
  }
}
