// What the privacy checks of the tests look for.

/**
 * A Kenyan mobile number in clear, as a whole token: not the digits inside a longer number or word
 * (a latency sum such as 0.0254712345678 or a random receipt), which would make a privacy check flaky.
 */
export const clearKenyanNumber = /(?<![\w.])\+?2547\d{8}(?!\w)/;
