// What a beneficiary's number tells about where it is: the country decides which provider
// account pays it (a provider has one account per market).
import { parsePhoneNumberFromString } from 'libphonenumber-js/mobile';

/** The ISO 3166-1 alpha-2 country of an E.164 number, or null when it names none. */
export function countryOfMsisdn(msisdn: string): string | null {
  return parsePhoneNumberFromString(msisdn)?.country ?? null;
}
