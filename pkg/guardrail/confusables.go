package guardrail

// confusable maps common look-alikes of Latin letters to the letter they imitate.
// It is deliberately short: the letters of Cyrillic, Greek, Armenian and Latin
// small capitals that pass for Latin ones in most fonts (a subset of Unicode's
// confusables.txt, without the many-to-many cases). It is applied to the rune
// before lower casing, so an uppercase Greek Eta (looks like H) and a lowercase
// eta (looks like n) fold differently. Letters of other scripts stay as they
// are, and since banned phrases are folded the same way, a Cyrillic phrase still
// matches Cyrillic text.
func confusable(r rune) (rune, bool) {
	if r < 0x0131 {
		return r, false // ASCII and Latin-1 have nothing to fold
	}
	switch r {
	case 'А', 'а', 'Α', 'α', 'ɑ', 'ᴀ':
		return 'a', true
	case 'В', 'в', 'ь', 'Β', 'β', 'ʙ':
		return 'b', true
	case 'С', 'с', 'ᴄ':
		return 'c', true
	case 'Ԁ', 'ԁ', 'ᴅ':
		return 'd', true
	case 'Е', 'е', 'Ε', 'ε', 'ᴇ':
		return 'e', true
	case 'ɡ', 'ɢ':
		return 'g', true
	case 'Н', 'н', 'Һ', 'һ', 'Η', 'ʜ':
		return 'h', true
	case 'І', 'і', 'Ι', 'ι', 'ı', 'ɩ':
		return 'i', true
	case 'Ј', 'ј', 'ȷ', 'ᴊ':
		return 'j', true
	case 'К', 'к', 'Κ', 'κ', 'ᴋ':
		return 'k', true
	case 'Ӏ', 'ӏ', 'ʟ':
		return 'l', true
	case 'М', 'м', 'Μ', 'ᴍ':
		return 'm', true
	case 'п', 'Ν', 'η', 'ɴ':
		return 'n', true
	case 'О', 'о', 'Ο', 'ο', 'օ', 'ᴏ':
		return 'o', true
	case 'Р', 'р', 'Ρ', 'ρ', 'ᴘ':
		return 'p', true
	case 'Ԛ', 'ԛ':
		return 'q', true
	case 'ʀ':
		return 'r', true
	case 'Ѕ', 'ѕ', 'ꜱ':
		return 's', true
	case 'Т', 'т', 'Τ', 'τ', 'ᴛ':
		return 't', true
	case 'μ', 'υ', 'ս', 'ᴜ':
		return 'u', true
	case 'ν', 'ᴠ':
		return 'v', true
	case 'Ԝ', 'ԝ', 'ω', 'ᴡ':
		return 'w', true
	case 'Х', 'х', 'Χ', 'χ':
		return 'x', true
	case 'У', 'у', 'Ү', 'ү', 'Υ', 'γ', 'ʏ':
		return 'y', true
	case 'Ζ', 'ᴢ':
		return 'z', true
	}
	return r, false
}
