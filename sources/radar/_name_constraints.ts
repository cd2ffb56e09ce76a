/**
 * Name constraints of a CA (RFC 5280 §4.2.1.10, §6.1.4 (g)) applied to the
 * certificates below it on a client's chain.
 *
 * Written here rather than taken from a library: `@peculiar/x509` parses
 * certificates but does not validate paths, and its name types turn an
 * `iPAddress` constraint (address and mask) into text. The DER read here is
 * small: the extension's two lists of subtrees, a certificate's subject
 * name and its subject alternative names.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** One DER element: its tag byte and its content. */
interface Tlv {
  tag: number;
  content: Uint8Array;
}

/** The DER elements that fill `bytes` exactly; throws on anything malformed. */
function elements(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at++];
    if ((tag & 0x1f) === 0x1f) throw new TypeError("a multi-byte DER tag");
    if (at >= bytes.length) throw new TypeError("a DER element without a length");
    let length = bytes[at++];
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4 || at + count > bytes.length) {
        throw new TypeError("a DER length that does not fit");
      }
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[at++];
    }
    if (at + length > bytes.length) throw new TypeError("a DER element longer than its container");
    out.push({ tag, content: bytes.subarray(at, at + length) });
    at += length;
  }
  return out;
}

/** The one element that is all of `bytes`, with tag `tag`. */
function only(bytes: Uint8Array, tag: number, what: string): Uint8Array {
  const list = elements(bytes);
  if (list.length !== 1 || list[0].tag !== tag) throw new TypeError(`${what} is not well-formed`);
  return list[0].content;
}

/** GeneralName forms (RFC 5280 §4.2.1.6), by the number of their context tag. */
const FORMS = [
  "otherName",
  "rfc822Name",
  "dNSName",
  "x400Address",
  "directoryName",
  "ediPartyName",
  "uniformResourceIdentifier",
  "iPAddress",
  "registeredID",
] as const;
type Form = typeof FORMS[number];

/**
 * A name of one form: text, an IP address (a subtree: address and mask),
 * or a directory name as RDN keys; `null` where a certificate's name
 * cannot be compared (a string type not read here, an IP address of
 * another length, an e-mail address without `@`): under a constraint of its
 * form, such a name is refused rather than let through.
 */
type Name =
  | { form: "rfc822Name" | "dNSName" | "uniformResourceIdentifier"; text: string | null }
  | { form: "iPAddress"; bytes: Uint8Array | null }
  | { form: "directoryName"; rdns: string[] | null }
  | { form: "otherName" | "x400Address" | "ediPartyName" | "registeredID" };

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");
const utf16be = new TextDecoder("utf-16be");

/** The text of a directory string, or undefined for another type. */
function directoryString({ tag, content }: Tlv): string | undefined {
  switch (tag) {
    case 0x0c: // UTF8String
      return utf8.decode(content);
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString, read as Latin-1 as most software does
      return latin1.decode(content);
    case 0x1e: // BMPString
      return utf16be.decode(content);
    case 0x1c: { // UniversalString
      let text = "";
      for (let i = 0; i + 3 < content.length; i += 4) {
        text += String.fromCodePoint(
          ((content[i] << 24) | (content[i + 1] << 16) | (content[i + 2] << 8) | content[i + 3]) >>>
            0,
        );
      }
      return text;
    }
  }
  return undefined;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** OID 1.2.840.113549.1.9.1, emailAddress, and 2.5.4.3, commonName, as DER content. */
const EMAIL_ADDRESS = "2a864886f70d010901";
const COMMON_NAME = "550403";

/** ASCII case and ASCII white space folded, as OpenSSL canonicalises names (no Unicode folding). */
function fold(text: string): string {
  return text.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "").replace(/[ \t\n\r\f\v]+/g, " ")
    .replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/** What a Name (DER) holds: its RDN keys, e-mail addresses and CNs. */
interface ReadName {
  /**
   * Each RDN as one comparable key: its attributes' types and folded values,
   * sorted, as a JSON array (no value can run into the next); `null` when a
   * value is of a string type not read here.
   */
  rdns: string[] | null;
  /** emailAddress values (legacy e-mail in a subject, §4.2.1.10); `null` for one that is not text. */
  emails: (string | null)[];
  /** commonName values that are text. */
  cns: string[];
}

function readName(der: Uint8Array): ReadName {
  const rdns: string[] = [];
  const emails: (string | null)[] = [];
  const cns: string[] = [];
  let comparable = true;
  for (const rdn of elements(only(der, 0x30, "a name"))) {
    if (rdn.tag !== 0x31) throw new TypeError("a name's RDN is not a SET");
    const keys: string[] = [];
    for (const atv of elements(rdn.content)) {
      if (atv.tag !== 0x30) throw new TypeError("a name's attribute is not a SEQUENCE");
      const [type, value, ...rest] = elements(atv.content);
      if (type?.tag !== 0x06 || value === undefined || rest.length > 0) {
        throw new TypeError("a name's attribute is not a type and a value");
      }
      const text = directoryString(value);
      if (text === undefined) comparable = false;
      const oid = hex(type.content);
      keys.push(`${oid}=${fold(text ?? "")}`);
      if (oid === EMAIL_ADDRESS) emails.push(text ?? null);
      if (oid === COMMON_NAME && text !== undefined) cns.push(text);
    }
    rdns.push(JSON.stringify(keys.sort()));
  }
  return { rdns: comparable ? rdns : null, emails, cns };
}

/** One GeneralName of a certificate. */
function generalName({ tag, content }: Tlv): Name {
  if ((tag & 0xc0) !== 0x80) throw new TypeError("a general name without a context tag");
  const form = FORMS[tag & 0x1f];
  if (form === undefined) throw new TypeError(`a general name of unknown form [${tag & 0x1f}]`);
  switch (form) {
    case "rfc822Name":
      return { form, text: mailbox(latin1.decode(content)) };
    case "dNSName":
    case "uniformResourceIdentifier":
      return { form, text: latin1.decode(content) };
    case "iPAddress":
      return { form, bytes: content.length === 4 || content.length === 16 ? content : null };
    case "directoryName":
      return { form, rdns: readName(content).rdns };
    default:
      return { form };
  }
}

/** An e-mail address, or null for text that is none (no `@`). */
function mailbox(text: string | null): string | null {
  return text !== null && text.includes("@") ? text : null;
}

/** One subtree's base: as {@link generalName}, but every base must be readable (an IP: address and mask). */
function baseName(tlv: Tlv): Name {
  const { tag, content } = tlv;
  const form = FORMS[tag & 0x1f];
  if (form === "iPAddress") {
    if (content.length !== 8 && content.length !== 32) {
      throw new TypeError(`an iPAddress subtree of ${content.length} bytes (expected 8 or 32)`);
    }
    return { form, bytes: content };
  }
  if (form === "rfc822Name") return { form, text: latin1.decode(content) };
  const name = generalName(tlv);
  if (name.form === "directoryName" && name.rdns === null) {
    throw new TypeError("a directoryName subtree with a value that cannot be read");
  }
  return name;
}

/** The permitted and excluded subtrees of a CA. */
export interface NameConstraints {
  permitted: Name[];
  excluded: Name[];
}

/** The name constraints of a `nameConstraints` extension's value (DER); throws when malformed. */
export function parseNameConstraints(value: Uint8Array): NameConstraints {
  const constraints: NameConstraints = { permitted: [], excluded: [] };
  for (const list of elements(only(value, 0x30, "the name constraints"))) {
    if (list.tag !== 0xa0 && list.tag !== 0xa1) {
      throw new TypeError("the name constraints hold something but subtrees");
    }
    for (const subtree of elements(list.content)) {
      if (subtree.tag !== 0x30) throw new TypeError("a subtree is not a SEQUENCE");
      // RFC 5280: minimum 0 (absent) and maximum absent. Anything else is a
      // constraint not implemented here: refused, not ignored.
      const [base, ...rest] = elements(subtree.content);
      if (base === undefined) throw new TypeError("a subtree without a base name");
      if (rest.length > 0) throw new TypeError("a subtree with a minimum or a maximum");
      (list.tag === 0xa0 ? constraints.permitted : constraints.excluded).push(baseName(base));
    }
  }
  return constraints;
}

/** The names of a certificate that name constraints apply to. */
export interface CertificateNames {
  /** The subject name (DER). */
  subject: Uint8Array;
  /** The value of its subjectAltName extension (DER), if it has one. */
  altNames?: Uint8Array;
  /**
   * The client's own certificate: a subject CN that reads as a host name is
   * also checked as a dNSName when it has no DNS alternative name, as
   * OpenSSL does.
   */
  leaf?: boolean;
}

/** A CN that reads as a DNS host name (two labels at least). */
const HOST_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/;

function names({ subject, altNames, leaf }: CertificateNames): Name[] {
  const out: Name[] = [];
  const { rdns, emails, cns } = readName(subject);
  // An empty subject is no name (RFC 5280 §6.1.3 (b)).
  if (rdns === null || rdns.length > 0) out.push({ form: "directoryName", rdns });
  for (const email of emails) out.push({ form: "rfc822Name", text: mailbox(email) });
  if (altNames !== undefined) {
    for (const name of elements(only(altNames, 0x30, "the subject alternative names"))) {
      out.push(generalName(name));
    }
  }
  if (leaf && !out.some((name) => name.form === "dNSName")) {
    for (const cn of cns) if (HOST_NAME.test(cn)) out.push({ form: "dNSName", text: cn });
  }
  return out;
}

/** A DNS name within a dNSName constraint, or a host within a URI's. */
function hostWithin(host: string, constraint: string, exactUnlessDot: boolean): boolean {
  const name = fold(host).replace(/\.$/, "");
  const base = fold(constraint);
  if (base === "") return true;
  if (base.startsWith(".")) return name.endsWith(base.replace(/\.$/, ""));
  const bare = base.replace(/\.$/, "");
  return name === bare || (!exactUnlessDot && name.endsWith(`.${bare}`));
}

/** Whether `name` (comparable) lies within the subtree `base` (of its form). */
function within(name: Name, base: Name): boolean {
  switch (base.form) {
    case "dNSName":
      return hostWithin((name as { text: string }).text, base.text!, false);
    case "rfc822Name": {
      const text = (name as { text: string }).text;
      const constraint = base.text!;
      const at = text.lastIndexOf("@");
      if (constraint.includes("@")) {
        // A mailbox: the local part as it is, the host without case.
        const baseAt = constraint.lastIndexOf("@");
        return text.slice(0, at) === constraint.slice(0, baseAt) &&
          fold(text.slice(at + 1)) === fold(constraint.slice(baseAt + 1));
      }
      return hostWithin(text.slice(at + 1), constraint, true);
    }
    case "uniformResourceIdentifier": {
      let host: string;
      try {
        host = new URL((name as { text: string }).text).hostname;
      } catch {
        return false;
      }
      return host !== "" && hostWithin(host, base.text!, true);
    }
    case "iPAddress": {
      const address = (name as { bytes: Uint8Array }).bytes;
      const range = base.bytes!;
      if (range.length !== address.length * 2) return false;
      for (let i = 0; i < address.length; i++) {
        const mask = range[address.length + i];
        if ((address[i] & mask) !== (range[i] & mask)) return false;
      }
      return true;
    }
    case "directoryName": {
      const rdns = (name as { rdns: string[] }).rdns;
      const prefix = base.rdns!;
      return prefix.length <= rdns.length && prefix.every((rdn, i) => rdn === rdns[i]);
    }
    default:
      return false;
  }
}

/** Whether a certificate's name can be compared with a subtree of its form. */
function comparable(name: Name): boolean {
  switch (name.form) {
    case "rfc822Name":
    case "dNSName":
    case "uniformResourceIdentifier":
      return name.text !== null;
    case "iPAddress":
      return name.bytes !== null;
    case "directoryName":
      return name.rdns !== null;
    default:
      return false;
  }
}

function shown(name: Name): string {
  switch (name.form) {
    case "iPAddress":
      return name.bytes === null
        ? "an iPAddress of another length"
        : `iPAddress ${hex(name.bytes)}`;
    case "directoryName":
      return "its subject name";
    case "rfc822Name":
    case "dNSName":
    case "uniformResourceIdentifier":
      return name.text === null ? `an ${name.form} that is not one` : `${name.form} ${name.text}`;
    default:
      return `a name of form ${name.form}`;
  }
}

/**
 * Why a certificate's names break `constraints`, in words; undefined when
 * they do not. For each form of name the constraints list, every name of
 * that form must lie within one of its permitted subtrees (when there are
 * any) and in none of its excluded ones; names of forms the constraints do
 * not list are free. A name that cannot be compared (an otherName, a value
 * of a string type not read here, an IP address of another length) under a
 * constraint of its form breaks it: refused rather than let through
 * unchecked. Throws when the certificate's names are malformed.
 */
export function nameConstraintProblem(
  constraints: NameConstraints,
  certificate: CertificateNames,
): string | undefined {
  for (const name of names(certificate)) {
    const permitted = constraints.permitted.filter((base) => base.form === name.form);
    const excluded = constraints.excluded.filter((base) => base.form === name.form);
    if (permitted.length + excluded.length === 0) continue;
    if (!comparable(name)) return `${shown(name)} cannot be checked against them`;
    if (permitted.length > 0 && !permitted.some((base) => within(name, base))) {
      return `${shown(name)} is not within a permitted subtree`;
    }
    if (excluded.some((base) => within(name, base))) {
      return `${shown(name)} is within an excluded subtree`;
    }
  }
  return undefined;
}
