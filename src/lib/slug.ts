/** URL slug from free text: ASCII lower case, digits and single dashes, at most `max` characters; '' when none is left. */
export function slugify(text: string, max = 120): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '')
  return slug
}
