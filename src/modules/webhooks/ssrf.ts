import dns from 'node:dns'
import type { LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'

export interface UrlPolicy {
  /** WEBHOOK_ALLOW_HTTP */
  allowHttp: boolean
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS */
  allowPrivate: boolean
}

export class RefusedUrl extends Error {
  override name = 'RefusedUrl'
}

/**
 * Why `address` may not be a webhook's destination, or null when it is a public unicast address. Every range that is
 * not plain unicast is refused: loopback, private, link-local (169.254.169.254, the cloud metadata service),
 * multicast, unspecified, unique-local, carrier-grade NAT, reserved, … IPv4-mapped IPv6 addresses count as their
 * IPv4 address.
 */
export function refusedRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address'
  let ip = ipaddr.parse(address)
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) ip = ip.toIPv4Address()
  const range = ip.range()
  return range === 'unicast' ? null : range
}

/**
 * The URL's syntax and scheme (https, or http with allowHttp; no credentials), and its host when that is an IP
 * literal (a connection to a literal makes no lookup, so checkedLookup would not see it).
 */
export function parseWebhookUrl(raw: string, policy: UrlPolicy): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new RefusedUrl('is not an absolute URL')
  }
  if (url.protocol !== 'https:' && !(policy.allowHttp && url.protocol === 'http:'))
    throw new RefusedUrl(policy.allowHttp ? 'must be an http or https URL' : 'must be an https URL')
  if (url.username || url.password) throw new RefusedUrl('must not contain credentials')
  const host = bare(url.hostname)
  if (!policy.allowPrivate && ipaddr.isValid(host)) {
    const range = refusedRange(host)
    if (range) throw new RefusedUrl(`resolves to ${host} (${range}), which webhooks may not reach`)
  }
  return url
}

const DNS_TIMEOUT_MS = 1500

const bare = (hostname: string) => hostname.replace(/^\[(.*)\]$/, '$1')

/**
 * Every address `hostname` stands for (itself when it is an IP literal): what the system resolver (hosts file
 * included) and DNS itself answer, together, so a name is refused if either way leads to a refused address.
 */
async function addressesOf(hostname: string): Promise<{ address: string; family: number }[]> {
  const host = bare(hostname)
  if (ipaddr.isValid(host)) return [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
  // The process's DNS servers, with a bounded wait (c-ares' default retries take far longer than a delivery may).
  const resolver = new dns.promises.Resolver({ timeout: DNS_TIMEOUT_MS, tries: 2 })
  resolver.setServers(dns.getServers())
  const [system, v4, v6] = await Promise.allSettled([
    dns.promises.lookup(host, { all: true, verbatim: true }),
    resolver.resolve4(host),
    resolver.resolve6(host)
  ])
  const found = new Map<string, number>()
  if (system.status === 'fulfilled') for (const a of system.value) found.set(a.address, a.family)
  if (v4.status === 'fulfilled') for (const a of v4.value) found.set(a, 4)
  if (v6.status === 'fulfilled') for (const a of v6.value) found.set(a, 6)
  if (!found.size) throw new RefusedUrl(`host ${host} does not resolve`)
  return [...found].map(([address, family]) => ({ address, family }))
}

/** Resolves the host and refuses it if any of its addresses is in a refused range (unless allowPrivate). */
export async function checkedAddresses(
  hostname: string,
  policy: UrlPolicy
): Promise<{ address: string; family: number }[]> {
  const addresses = await addressesOf(hostname)
  if (!addresses.length) throw new RefusedUrl(`host ${bare(hostname)} does not resolve`)
  if (!policy.allowPrivate) {
    for (const { address } of addresses) {
      const range = refusedRange(address)
      if (range) throw new RefusedUrl(`resolves to ${address} (${range}), which webhooks may not reach`)
    }
  }
  return addresses
}

/** The whole check of a webhook URL, as at creation: syntax, scheme and every address it resolves to. */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  const url = parseWebhookUrl(raw, policy)
  await checkedAddresses(url.hostname, policy)
  return url
}

/**
 * A `lookup` for http(s).request that checks the addresses at connect time, so the connection goes to an address
 * that passed the check (a name that now resolves elsewhere is refused, DNS rebinding included).
 */
export const checkedLookup =
  (policy: UrlPolicy): LookupFunction =>
  (hostname, options, callback) => {
    checkedAddresses(hostname, policy).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0
        const usable = wanted ? addresses.filter((a) => a.family === wanted) : addresses
        if (options.all) callback(null, usable)
        else {
          const first = usable[0]
          if (!first) callback(new RefusedUrl(`host ${hostname} has no IPv${wanted} address`), '', 0)
          else callback(null, first.address, first.family)
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0)
    )
  }
