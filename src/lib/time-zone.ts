/** True for a time zone this Node's Intl knows (IANA names such as Asia/Shanghai, and UTC). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
