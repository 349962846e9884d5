"""The validator's own messages, in the languages our forms use.

A form's constraint_message and required_message win when the form has them; these are
the fallbacks and the messages for checks the form author never writes (types, dates, GPS).
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "required": {
        "en": "This question is required.",
        "pt": "Esta pergunta é obrigatória.",
    },
    "constraint": {
        "en": "This answer is not allowed.",
        "pt": "Esta resposta não é permitida.",
    },
    "soft-constraint": {
        "en": "Please check this answer.",
        "pt": "Por favor verifique esta resposta.",
    },
    "integer": {
        "en": "Enter a whole number (you entered “{value}”).",
        "pt": "Introduza um número inteiro (introduziu “{value}”).",
    },
    "integer-range": {
        "en": "The number {value} is too large.",
        "pt": "O número {value} é demasiado grande.",
    },
    "decimal": {
        "en": "Enter a number (you entered “{value}”).",
        "pt": "Introduza um número (introduziu “{value}”).",
    },
    "range": {
        "en": "Choose a value from {start} to {end} in steps of {step}.",
        "pt": "Escolha um valor de {start} a {end}, de {step} em {step}.",
    },
    "text": {
        "en": "Expected text.",
        "pt": "Esperava-se texto.",
    },
    "text-too-long": {
        "en": "Too long: {length} characters (at most {limit}).",
        "pt": "Demasiado longo: {length} caracteres (no máximo {limit}).",
    },
    "control-characters": {
        "en": "The text contains invisible control characters; please retype it.",
        "pt": "O texto contém caracteres de controlo invisíveis; escreva-o de novo.",
    },
    "date": {
        "en": "“{value}” is not a real date (use YYYY-MM-DD).",
        "pt": "“{value}” não é uma data válida (use AAAA-MM-DD).",
    },
    "time": {
        "en": "“{value}” is not a valid time (use HH:MM).",
        "pt": "“{value}” não é uma hora válida (use HH:MM).",
    },
    "datetime": {
        "en": "“{value}” is not a valid date and time.",
        "pt": "“{value}” não é uma data e hora válidas.",
    },
    "choice": {
        "en": "“{value}” is not one of the choices.",
        "pt": "“{value}” não é uma das opções.",
    },
    "choice-filtered": {
        "en": "“{value}” is not available for the answers given earlier.",
        "pt": "“{value}” não está disponível para as respostas anteriores.",
    },
    "choice-repeated": {
        "en": "“{value}” is chosen more than once.",
        "pt": "“{value}” foi escolhido mais de uma vez.",
    },
    "acknowledge": {
        "en": "Tick to acknowledge.",
        "pt": "Marque para confirmar.",
    },
    "geopoint": {
        "en": "“{value}” is not a GPS point (expected latitude and longitude).",
        "pt": "“{value}” não é um ponto GPS (esperava-se latitude e longitude).",
    },
    "geopoint-range": {
        "en": "Latitude must be −90 to 90 and longitude −180 to 180.",
        "pt": "A latitude deve estar entre −90 e 90 e a longitude entre −180 e 180.",
    },
    "geopoint-null-island": {
        "en": "0, 0 is not a real location: the GPS has no fix yet.",
        "pt": "0, 0 não é uma localização real: o GPS ainda não tem sinal.",
    },
    "geopoint-accuracy": {
        "en": "GPS accuracy is {accuracy:.0f} m (aim for {limit:.0f} m or better).",
        "pt": "A precisão do GPS é de {accuracy:.0f} m (procure {limit:.0f} m ou melhor).",
    },
    "geopoint-outside-area": {
        "en": "This point is outside {area}. Check the GPS or the site.",
        "pt": "Este ponto está fora de {area}. Verifique o GPS ou o local.",
    },
    "household-id": {
        "en": "“{value}” is not a valid household id: check the card (e.g. 7K2M9-QX4PR-3).",
        "pt": "“{value}” não é um código de agregado válido: verifique o cartão "
        "(ex.: 7K2M9-QX4PR-3).",
    },
    "geopoint-far-from-site": {
        "en": "This point is {distance:.1f} km outside the site {site}.",
        "pt": "Este ponto está a {distance:.1f} km fora do local {site}.",
    },
    "geoshape": {
        "en": "A shape needs at least 3 distinct points and must be closed.",
        "pt": "Uma área precisa de pelo menos 3 pontos distintos e deve ser fechada.",
    },
    "geotrace": {
        "en": "A line needs at least 2 points.",
        "pt": "Uma linha precisa de pelo menos 2 pontos.",
    },
    "repeat-count": {
        "en": "Expected {expected} entries here, found {actual}.",
        "pt": "Esperavam-se {expected} entradas aqui, encontraram-se {actual}.",
    },
    "repeat-shape": {
        "en": "Expected a list of entries.",
        "pt": "Esperava-se uma lista de entradas.",
    },
    "instance-key": {
        "en": "An entry's key must be 1 to 64 letters, digits, “-”, “_” or “:” (found “{value}”).",
        "pt": "A chave de uma entrada deve ter de 1 a 64 letras, algarismos, “-”, “_” ou “:” "
        "(encontrou-se “{value}”).",
    },
    "instance-key-repeated": {
        "en": "Two entries here have the same key “{value}”.",
        "pt": "Duas entradas aqui têm a mesma chave “{value}”.",
    },
    "unknown-field": {
        "en": "The form has no question named “{name}” here.",
        "pt": "O formulário não tem nenhuma pergunta “{name}” aqui.",
    },
    "metadata-device": {
        "en": "The device id “{value}” is not the device that sent this record ({device}).",
        "pt": "O ID “{value}” não é o do dispositivo que enviou este registo ({device}).",
    },
    "not-an-object": {
        "en": "A record must be a JSON object of answers.",
        "pt": "Um registo deve ser um objeto JSON de respostas.",
    },
}

DEFAULT_LANGUAGE = "en"


def message(code: str, language: str | None, **values: object) -> str:
    """The message for `code` in `language` ("pt", "en"), with values filled in."""
    texts = MESSAGES[code]
    template = texts.get((language or DEFAULT_LANGUAGE)[:2].lower(), texts[DEFAULT_LANGUAGE])
    return template.format(**values)
