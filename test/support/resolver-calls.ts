// Counts calls of the root resolvers of a running Tally (queries, mutations, subscription
// set-ups), whichever transport they come from: the schema's root fields are wrapped in
// place, and Apollo and graphql-ws execute against that same schema object. A request refused
// "before any resolver runs" leaves the count unchanged.
import type { INestApplication } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { defaultFieldResolver, type GraphQLFieldResolver } from 'graphql';

export interface ResolverCalls {
  readonly total: number;
  /** Calls per root field, e.g. `Mutation.ingest`. */
  readonly byField: ReadonlyMap<string, number>;
}

export function countResolverCalls(app: INestApplication): ResolverCalls {
  const schema = app.get(GraphQLSchemaHost).schema;
  const byField = new Map<string, number>();
  let total = 0;
  const count = (name: string) => {
    total++;
    byField.set(name, (byField.get(name) ?? 0) + 1);
  };
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (!type) continue;
    for (const field of Object.values(type.getFields())) {
      const name = `${type.name}.${field.name}`;
      if (type === schema.getSubscriptionType()) {
        const subscribe = field.subscribe as GraphQLFieldResolver<unknown, unknown>;
        field.subscribe = (...args) => (count(name), subscribe(...args));
      } else {
        const resolve = field.resolve ?? defaultFieldResolver;
        field.resolve = (...args) => (count(name), resolve(...args));
      }
    }
  }
  return {
    get total() {
      return total;
    },
    byField,
  };
}
