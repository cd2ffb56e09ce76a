/**
 * `@peculiar/x509`, loaded after the `Reflect.metadata` polyfill that its
 * dependency injection (tsyringe) needs before it is evaluated. Import X.509
 * from here, never from `@peculiar/x509` directly.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import "reflect-metadata";

export * from "@peculiar/x509";
