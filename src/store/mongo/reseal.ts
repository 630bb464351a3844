// Store.resealIfUnchanged in MongoDB: one conditional updateOne per kind of sealed value, which
// sets the sealed field alone and only while it still holds what the caller read (atomic on one
// document), so that a rewrap never undoes a server's change.
import type { SealedValueLocation } from '../types.js';
import type { MongoModels } from './models.js';

// $eq everywhere, as in the record stores: no value may ever become a query operator.
export async function resealIfUnchanged(
  models: MongoModels,
  location: SealedValueLocation,
  expected: string,
  replacement: string,
): Promise<boolean> {
  const is = (value: string) => ({ $eq: value });
  let result: { matchedCount: number };
  switch (location.kind) {
    case 'oidc':
      result = await models.oidc.updateOne(
        { _id: is(`${location.model}:${location.key}`), payload: is(expected) },
        { $set: { payload: replacement } },
      );
      break;
    case 'client':
      result = await models.clients.updateOne(
        { _id: is(location.clientId), secretSealed: is(expected) },
        { $set: { secretSealed: replacement } },
      );
      break;
    case 'signingKey':
      result = await models.signingKeys.updateOne(
        { _id: is(location.kid), privateSealed: is(expected) },
        { $set: { privateSealed: replacement } },
      );
      break;
    case 'setting':
      result = await models.settings.updateOne(
        { _id: is(location.name), value: is(expected) },
        { $set: { value: replacement } },
      );
      break;
    case 'vaultIntegration':
      result = await models.vaultIntegrations.updateOne(
        { appId: is(location.appId), key: is(location.key), clientSecretSealed: is(expected) },
        { $set: { clientSecretSealed: replacement } },
      );
      break;
    case 'vaultConnection':
      // The version stays: the same tokens, so a refresh that read the connection still wins.
      result = await models.vaultConnections.updateOne(
        {
          appId: is(location.appId),
          integrationKey: is(location.integrationKey),
          endUserId: is(location.endUserId),
          tokensSealed: is(expected),
        },
        { $set: { tokensSealed: replacement } },
      );
      break;
  }
  return result.matchedCount === 1;
}
