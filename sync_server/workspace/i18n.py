"""The workspace's text in Portuguese (the default) and English.

A small catalogue rather than gettext files: the pages have a few hundred words, and one
Python dict keeps each phrase's two languages side by side for whoever edits them.
`translate(lang, key, **values)` fills `{placeholders}`; a key missing from the catalogue
shows as the key itself (and the catalogue test fails), never as an error page.
"""

from __future__ import annotations

import logging

from sync_server.workspace.i18n_review import REVIEW_TEXT

log = logging.getLogger("sync_server.workspace")

DEFAULT_LANGUAGE = "pt"
LANGUAGES = ("pt", "en")

# key: (Portuguese, English)
CATALOGUE: dict[str, tuple[str, str]] = {
    "site-list": (
        "Lista de locais",
        "Site list",
    ),
    "site-list-link": (
        "Abrir, fechar e confirmar locais",
        "Open, close and confirm sites",
    ),
    "site-list-intro": (
        "Os tablets recebem esta lista na próxima sincronização. Um local fechado "
        "deixa de ser oferecido; os registos antigos mantêm-no.",
        "Tablets get this list at their next sync. A closed site is no longer "
        "offered; older records keep it.",
    ),
    "site-add": (
        "Abrir um novo local",
        "Open a new site",
    ),
    "site-add-button": (
        "Abrir local",
        "Open site",
    ),
    "site-name": (
        "Nome",
        "Name",
    ),
    "site-type": (
        "Tipo",
        "Type",
    ),
    "site-type-accommodation_centre": (
        "Centro de acomodação",
        "Accommodation centre",
    ),
    "site-type-resettlement_site": (
        "Bairro / centro de reassentamento",
        "Resettlement site",
    ),
    "site-type-host_community": (
        "Comunidade de acolhimento",
        "Host community",
    ),
    "site-lat": (
        "Latitude",
        "Latitude",
    ),
    "site-lon": (
        "Longitude",
        "Longitude",
    ),
    "site-opened": (
        "Aberto em",
        "Opened on",
    ),
    "site-closed": (
        "Fechado em",
        "Closed on",
    ),
    "site-status": (
        "Estado",
        "Status",
    ),
    "site-status-open": (
        "Aberto",
        "Open",
    ),
    "site-status-closed": (
        "Fechado",
        "Closed",
    ),
    "site-status-proposed": (
        "Proposto no terreno",
        "Proposed in the field",
    ),
    "site-status-merged": (
        "Juntado",
        "Merged",
    ),
    "site-close": (
        "Fechar",
        "Close",
    ),
    "site-confirm": (
        "Confirmar",
        "Confirm",
    ),
    "site-merge": (
        "Juntar",
        "Merge",
    ),
    "site-merge-into": (
        "Local existente",
        "Existing site",
    ),
    "site-done-added": (
        "Local aberto. Os tablets recebem-no na próxima sincronização.",
        "Site opened. Tablets get it at their next sync.",
    ),
    "site-done-closed": (
        "Local fechado. Os tablets deixam de o oferecer na próxima sincronização.",
        "Site closed. Tablets stop offering it at their next sync.",
    ),
    "site-done-confirmed": (
        "Local confirmado: está aberto e na lista dos tablets.",
        "Site confirmed: it is open and on the tablets' list.",
    ),
    "site-done-merged": (
        "Local juntado ao local existente.",
        "Site merged into the existing site.",
    ),
    "site-error-out-of-scope": (
        "Este local é de outro distrito.",
        "This site is in another district.",
    ),
    "site-error-date-invalid": (
        "A data falta ou não é uma data (AAAA-MM-DD).",
        "The date is missing or not a date (YYYY-MM-DD).",
    ),
    "site-error-name-missing": (
        "O local precisa de um nome.",
        "The site needs a name.",
    ),
    "site-error-name-long": (
        "O nome tem mais de 120 caracteres.",
        "The name is longer than 120 characters.",
    ),
    "site-error-type-unknown": (
        "Tipo de local desconhecido.",
        "Unknown site type.",
    ),
    "site-error-district-unknown": (
        "Distrito desconhecido.",
        "Unknown district.",
    ),
    "site-error-position-missing": (
        "Indique a latitude e a longitude do local.",
        "Give the site's latitude and longitude.",
    ),
    "site-error-position-outside": (
        "Esta posição fica fora de Moçambique (latitude primeiro, ex.: -17.48 e 37.02).",
        "This position is outside Mozambique (latitude first, e.g. -17.48 and 37.02).",
    ),
    "site-error-not-found": (
        "Este local não existe.",
        "There is no such site.",
    ),
    "site-error-not-open": (
        "Este local não está aberto.",
        "This site is not open.",
    ),
    "site-error-closes-before-opening": (
        "Um local não pode fechar antes da data em que abriu.",
        "A site can't close before the day it opened.",
    ),
    "site-error-not-proposed": (
        "Este local não é uma proposta.",
        "This site is not a proposal.",
    ),
    "site-error-merge-target": (
        "Escolha um local aberto ou fechado da lista.",
        "Choose an open or closed site of the list.",
    ),
    "app-name": ("Espaço do coordenador", "Coordinator workspace"),
    "nav-overview": ("Resumo", "Overview"),
    "nav-records": ("Registos", "Records"),
    "nav-conflicts": ("Conflitos", "Conflicts"),
    "nav-tablets": ("Tablets", "Tablets"),
    "nav-sites": ("Locais", "Sites"),
    "nav-map": ("Mapa", "Map"),
    "nav-diaspora": ("Diáspora", "Diaspora"),
    "nav-exports": ("Exportações", "Exports"),
    "nav-duplicates": ("Duplicados", "Duplicates"),
    "nav-accounts": ("Contas", "Accounts"),
    "nav-soon": ("Ainda não instalado neste servidor", "Not installed on this server yet"),
    "national": ("Nacional", "National"),
    "sign-in": ("Entrar", "Sign in"),
    "sign-out": ("Sair", "Sign out"),
    "sign-in-intro": (
        "Entre com a conta de coordenador que o administrador nacional lhe deu.",
        "Sign in with the coordinator account the national administrator gave you.",
    ),
    "username": ("Utilizador", "User name"),
    "password": ("Palavra-passe", "Password"),
    "bad-login": (
        "Utilizador ou palavra-passe errados.",
        "Wrong user name or password.",
    ),
    "locked": (
        "Demasiadas tentativas falhadas: esta conta está bloqueada até às {until} (UTC). "
        "Tente mais tarde ou peça ajuda ao administrador nacional.",
        "Too many failed sign-ins: this account is locked until {until} (UTC). Try again "
        "later or ask the national administrator.",
    ),
    "session-ended": (
        "A sua sessão terminou ou não é válida. Entre de novo.",
        "Your session ended or is not valid. Please sign in again.",
    ),
    "csrf-refused": (
        "Este formulário não trazia a chave de segurança da sua sessão; nada foi alterado. "
        "Abra a página de novo e repita.",
        "This form did not carry your session's security token; nothing was changed. Open "
        "the page again and repeat.",
    ),
    "error-title": ("Não foi possível", "That did not work"),
    "not-found": (
        "Não existe nada neste endereço no seu âmbito.",
        "There is nothing at this address in your scope.",
    ),
    "back-overview": ("Voltar ao resumo", "Back to the overview"),
    "choose-one-of": ("Escolha um de:", "Choose one of:"),
    "unknown-form": (
        "O formulário «{value}» não existe neste servidor.",
        "There is no form “{value}” on this server.",
    ),
    "unknown-status": ("O estado «{value}» não existe.", "There is no status “{value}”."),
    "bad-date": (
        "«{value}» não é uma data (use AAAA-MM-DD).",
        "“{value}” is not a date (use YYYY-MM-DD).",
    ),
    "bad-page": (
        "«{value}» não é um número de página válido.",
        "“{value}” is not a valid page number.",
    ),
    "filter-too-long": (
        "O filtro «{value}» é demasiado longo.",
        "The “{value}” filter is too long.",
    ),
    "already-resolved": (
        "Este conflito já foi decidido; nada foi alterado.",
        "This conflict was already decided; nothing was changed.",
    ),
    "not-a-side": ("Essa escolha não é um dos lados.", "That choice is not one of the sides."),
    "wrong-fields": (
        "A decisão não correspondia aos campos do conflito; nada foi alterado.",
        "The decision did not match the conflict's fields; nothing was changed.",
    ),
    "records-total": ("registos no total", "records in total"),
    "records-today": ("recebidos hoje", "received today"),
    "open-conflicts": ("conflitos por decidir", "conflicts to decide"),
    "uploads-rejected": ("Envios recusados", "Rejected uploads"),
    "by-form": ("Por formulário", "By form"),
    "by-district": ("Por distrito", "By district"),
    "by-site": ("Por local", "By site"),
    "by-enumerator": ("Por inquiridor", "By enumerator"),
    "form": ("Formulário", "Form"),
    "district": ("Distrito", "District"),
    "site": ("Local", "Site"),
    "enumerator": ("Inquiridor", "Enumerator"),
    "enumerators": ("Inquiridores", "Enumerators"),
    "today": ("Hoje", "Today"),
    "total": ("Total", "Total"),
    "nothing-yet": ("Ainda nada.", "Nothing yet."),
    "received": ("Recebido", "Received"),
    "record": ("Registo", "Record"),
    "reasons": ("Motivos", "Reasons"),
    "no-rejections": ("Nenhum envio recusado.", "No rejected uploads."),
    "reason-required": ("obrigatório", "required"),
    "reason-constraint": ("fora das regras", "breaks a rule"),
    "reason-unknown-form": ("formulário desconhecido", "unknown form"),
    "reason-integer": ("não é um número inteiro", "not a whole number"),
    "reason-date": ("data inválida", "invalid date"),
    "reason-choice": ("opção inválida", "invalid choice"),
    "device": ("Tablet", "Tablet"),
    "last-sync": ("Última sincronização", "Last sync"),
    "outbox": ("Por enviar", "Outbox"),
    "app-version": ("Versão", "App version"),
    "clock-offset": ("Relógio", "Clock offset"),
    "state": ("Estado", "State"),
    "never": ("nunca", "never"),
    "revoked": ("revogado", "revoked"),
    "locked-until": ("bloqueada até {until} (UTC)", "locked until {until} (UTC)"),
    "active": ("ativo", "active"),
    "revoke": ("Revogar", "Revoke"),
    "no-tablets": ("Nenhum tablet registado.", "No tablets enrolled."),
    "search": ("Procurar", "Search"),
    "search-hint": ("nome ou telefone", "name or phone"),
    "all": ("todos", "all"),
    "from": ("De", "From"),
    "to": ("Até", "To"),
    "status": ("Estado", "Status"),
    "status-new": ("novo", "new"),
    "status-edited": ("editado", "edited"),
    "status-conflict": ("em conflito", "in conflict"),
    "status-rejected": ("recusado", "rejected"),
    "apply": ("Filtrar", "Filter"),
    "clear": ("Limpar", "Clear"),
    "found": ("{count} registos encontrados.", "{count} records found."),
    "page-beyond": (
        "Não existe a página {value}; a última é a {last}, mostrada abaixo.",
        "There is no page {value}; the last one is {last}, shown below.",
    ),
    "page-of": ("Página {page} de {pages}", "Page {page} of {pages}"),
    "previous": ("Anterior", "Previous"),
    "next": ("Seguinte", "Next"),
    "name": ("Nome", "Name"),
    "no-records": ("Nenhum registo corresponde.", "No records match."),
    "form-version": ("versão", "version"),
    "revisions": ("revisões", "revisions"),
    "decided": (
        "Decisão gravada: os tablets recebem-na na próxima sincronização.",
        "Decision saved: tablets receive it on their next sync.",
    ),
    "position": ("Posição", "Position"),
    "map-label": ("Mapa", "Map"),
    "history": ("Histórico", "History"),
    "record-files": ("Ficheiros", "Files"),
    "record-file-open": ("abrir", "open"),
    "merge-by-server": ("Servidor", "Server"),
    "rev-created": ("criou o registo", "created the record"),
    "rev-edited": ("editou", "edited"),
    "rev-merge": ("juntou edições simultâneas", "merged concurrent edits"),
    "rev-decision": ("decidiu um conflito", "decided a conflict"),
    "rev-transfer": ("moveu o registo", "moved the record"),
    "transfer-title": ("Mover o registo", "Move the record"),
    "transfer-to": ("Para o local", "To the site"),
    "transfer-button": ("Mover…", "Move…"),
    "transfer-from-to": (
        "Mover este registo de {old} para {new}?",
        "Move this record from {old} to {new}?",
    ),
    "transfer-explain": (
        "A mudança fica no histórico do registo. Os tablets do novo distrito recebem-no na "
        "próxima sincronização; os do distrito antigo deixam de o receber e de o poder editar.",
        "The move is kept in the record's history. Tablets of the new district receive it on "
        "their next sync; those of the old district no longer receive it or can edit it.",
    ),
    "transfer-confirm": ("Confirmar a mudança", "Confirm the move"),
    "transfer-done": (
        "Registo movido: os tablets do novo distrito recebem-no na próxima sincronização.",
        "Record moved: tablets of the new district receive it on their next sync.",
    ),
    "transfer-refused": (
        "Só uma conta que cubra os dois distritos (nacional) pode mover este registo.",
        "Only an account covering both districts (a national one) can move this record.",
    ),
    "transfer-invalid": (
        "Esse local não serve para este registo (já está lá, ou o formulário não tem distrito).",
        "That place does not fit this record (it is there already, or its form has no district).",
    ),
    "transfer-no-site": ("Escolha um local da lista.", "Choose a site from the list."),
    "cancel": ("Cancelar", "Cancel"),
    "households": ("agregados", "households"),
    "open": ("Por decidir", "Open"),
    "resolved": ("Decididos", "Resolved"),
    "conflicts-intro": (
        "Dois tablets mudaram a mesma resposta de formas diferentes. Até decidir, vale a "
        "edição mais recente.",
        "Two tablets changed the same answer differently. Until you decide, the latest "
        "edit counts.",
    ),
    "fields": ("Campos", "Fields"),
    "no-conflicts": ("Nenhum conflito aqui.", "No conflicts here."),
    "detected": ("Detetado", "Detected"),
    "review": ("Rever conflito", "Review conflict"),
    "review-intro": (
        "Para cada campo escolha o lado A, o lado B, ou escreva outro valor. A decisão é "
        "uma nova revisão que chega aos tablets na próxima sincronização.",
        "For each field pick side A, side B, or type another value. The decision is a new "
        "revision that reaches the tablets on their next sync.",
    ),
    "field": ("Campo", "Field"),
    "base": ("Antes", "Base"),
    "other-value": ("Outro valor", "Other value"),
    "note": ("Nota (porquê)", "Note (why)"),
    "resolve": ("Gravar decisão", "Save decision"),
    "choose-side": ("Escolha um lado ou escreva um valor.", "Pick a side or type a value."),
    "code-for": ("Código para {name}", "Code for {name}"),
    "qr-alt": ("Código QR para ler com o tablet", "QR code for the tablet to scan"),
    "code-valid": (
        "Válido até {until} (UTC), para um só tablet.",
        "Valid until {until} (UTC), for one tablet.",
    ),
    "enroll-tablet": ("Registar um tablet", "Enroll a tablet"),
    "whole-district": ("todo o distrito", "whole district"),
    "make-code": ("Criar código", "Make a code"),
    "tablets-list": ("Tablets", "Tablets"),
    "tablets": ("Tablets", "Tablets"),
    "pending-codes": ("Códigos por usar", "Unused codes"),
    "valid-until": ("Válido até", "Valid until"),
    "none": ("Nenhum.", "None."),
    "enumerator-missing": ("Escreva o nome do inquiridor.", "Type the enumerator's name."),
    "district-unknown": ("Distrito desconhecido.", "Unknown district."),
    "site-unknown": (
        "Esse local não existe nesse distrito.",
        "That site is not in that district.",
    ),
    "sites-intro": (
        "Última verificação de cada local, cada indicador avaliado contra {standard}; "
        "os locais abaixo do padrão primeiro.",
        "Each site's latest check, every indicator rated against {standard}; sites below "
        "standard first.",
    ),
    "colour-red": ("vermelho", "red"),
    "colour-amber": ("amarelo", "amber"),
    "colour-green": ("verde", "green"),
    "colour-none": ("sem dados", "no data"),
    "latest-check": ("última verificação", "latest check"),
    "indicator": ("Indicador", "Indicator"),
    "value": ("Valor", "Value"),
    "rating": ("Avaliação", "Rating"),
    "standard": ("Padrão", "Standard"),
    "trend": ("Tendência", "Trend"),
    "no-check": ("Ainda sem verificação.", "No check yet."),
    "legend": ("Legenda", "Legend"),
    "map-note": (
        "Número ao lado de cada local: agregados registados.",
        "Number next to each site: households registered.",
    ),
    "map-approximate": (
        "Limites de distrito aproximados (não oficiais).",
        "District boundaries are approximate (not official).",
    ),
    "no-map": ("Não há ficheiro de distritos.", "There is no district file."),
    "dia-intro": ("{count} entrevistas.", "{count} interviews."),
    "dia-country": ("País de residência", "Country of residence"),
    "dia-city": ("Cidade", "City"),
    "dia-skills": ("Competências", "Skills"),
    "dia-sector": ("Setor de trabalho", "Work sector"),
    "dia-invest": ("Interesse em investir", "Interest in investing"),
    "dia-invest-sectors": ("Setores de investimento", "Investment sectors"),
    "dia-return": ("Intenção de regresso", "Intention to return"),
    "dia-engagement": ("Outros interesses", "Other interests"),
    "account-created": ("Conta criada.", "Account created."),
    "new-account": ("Nova conta de coordenador", "New coordinator account"),
    "create": ("Criar", "Create"),
    "created": ("Criada", "Created"),
    "last-signin": ("Última entrada", "Last sign-in"),
    "password-too-short": (
        "A palavra-passe precisa de pelo menos {value} caracteres.",
        "The password needs at least {value} characters.",
    ),
    "username-invalid": (
        "O utilizador só pode ter letras, números, ponto, hífen e sublinhado.",
        "The user name may only have letters, digits, dot, hyphen and underscore.",
    ),
    "username-taken": ("Esse utilizador já existe.", "That user name is taken."),
    "name-missing": ("Escreva o nome.", "Type the name."),
}
CATALOGUE.update(REVIEW_TEXT)  # the Exports and Duplicates pages (i18n_review.py)


def has_text(key: str) -> bool:
    return key in CATALOGUE


def translate(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang` with `{placeholders}` filled."""
    entry = CATALOGUE.get(key)
    if entry is None:
        log.warning("no workspace text for %r", key)
        return key
    text = entry[0] if lang == "pt" else entry[1]
    try:
        return text.format(**values) if values else text
    except (KeyError, IndexError):
        return text
