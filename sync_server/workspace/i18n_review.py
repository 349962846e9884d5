"""The Exports and Duplicates pages' text in Portuguese and English (merged into
`i18n.CATALOGUE`; kept apart so the two pages' words sit together)."""

from __future__ import annotations

# key: (Portuguese, English)
REVIEW_TEXT: dict[str, tuple[str, str]] = {
    # --- Exports ------------------------------------------------------------------------
    "exp-intro": (
        "Descarregue os registos de um formulário. Uma exportação partilhável não tem dados "
        "pessoais nem sensíveis (ids que não se podem seguir, GPS no local, contagens "
        "pequenas escondidas); uma exportação completa tem tudo, pede um motivo e fica no "
        "registo de auditoria.",
        "Download a form's records. A shareable export has no personal or sensitive data "
        "(ids that can't be traced back, GPS at the site, small counts hidden); a full "
        "export has everything, asks for a purpose and is recorded in the audit log.",
    ),
    "exp-format": ("Formato", "Format"),
    "exp-format-csvzip": (
        "CSV zip (ODK: uma tabela por grupo repetido)",
        "CSV zip (ODK: one table per repeat)",
    ),
    "exp-format-xlsx": ("Excel (XLSX)", "Excel (XLSX)"),
    "exp-format-geojson": ("GeoJSON (mapas, SIG)", "GeoJSON (maps, GIS)"),
    "exp-format-hxl": ("CSV com etiquetas HXL (HDX)", "HXL-tagged CSV (HDX)"),
    "exp-kind": ("Tipo", "Kind"),
    "exp-shareable": ("Partilhável (sem dados pessoais)", "Shareable (no personal data)"),
    "exp-full": ("Completa (com dados pessoais; auditada)", "Full (personal data; audited)"),
    "exp-purpose": ("Motivo (obrigatório numa completa)", "Purpose (needed for a full export)"),
    "exp-answers": ("Respostas", "Answers"),
    "exp-labels": ("Textos das opções", "Choice labels"),
    "exp-codes": ("Códigos das opções", "Choice codes"),
    "exp-language": ("Língua dos textos", "Labels' language"),
    "exp-language-default": ("a do formulário", "the form's"),
    "exp-conflicts": ("Registos em conflito aberto", "Records in open conflict"),
    "exp-include": ("incluir", "include"),
    "exp-exclude": ("deixar de fora", "leave out"),
    "exp-revisions": ("Linhas", "Rows"),
    "exp-merged": ("uma por registo (fundido)", "one per record (merged)"),
    "exp-every-revision": ("uma por revisão", "one per revision"),
    "exp-any": ("todos", "any"),
    "exp-status-clean": ("sem conflito", "no conflict"),
    "exp-status-soft-conflict": ("conflito resolvido sozinho", "conflict merged by itself"),
    "exp-status-open-conflict": ("conflito por decidir", "conflict to decide"),
    "exp-download": ("Descarregar", "Download"),
    "exp-download-hint": (
        "O ficheiro começa a chegar logo; o navegador mostra os bytes recebidos.",
        "The file starts arriving at once; the browser shows the bytes received.",
    ),
    "exp-recent": ("Exportações recentes", "Recent exports"),
    "exp-when": ("Quando", "When"),
    "exp-who": ("Quem", "Who"),
    "exp-records": ("Registos", "Records"),
    "exp-outcome": ("Resultado", "Outcome"),
    "exp-outcome-ok": ("completa", "complete"),
    "exp-outcome-cut": ("interrompida", "cut off"),
    "exp-filters": ("Filtros", "Filters"),
    "exp-none": ("Ainda nenhuma exportação.", "No exports yet."),
    "exp-errors": ("Nada foi exportado:", "Nothing was exported:"),
    "exp-err-form": (
        "Escolha um formulário publicado neste servidor.",
        "Choose a form published on this server.",
    ),
    "exp-err-format": (
        "Formato desconhecido: escolha CSV zip, XLSX, GeoJSON ou HXL.",
        "Unknown format: choose CSV zip, XLSX, GeoJSON or HXL.",
    ),
    "exp-err-date": (
        "A data «{value}» não é válida: escreva-a como AAAA-MM-DD.",
        "The date “{value}” is not valid: write it as YYYY-MM-DD.",
    ),
    "exp-err-date-order": (
        "O período acaba antes de começar: troque as datas.",
        "The date range ends before it starts: swap the dates.",
    ),
    "exp-err-purpose": (
        "Uma exportação completa (com dados pessoais) precisa de um motivo.",
        "A full export (with personal data) needs a purpose.",
    ),
    "exp-err-district": (
        "Esse distrito está fora da sua área: exporte o seu distrito.",
        "That district is outside your scope: export your own district.",
    ),
    "exp-err-site": ("Esse local está fora da sua área.", "That site is outside your scope."),
    "exp-err-status": ("Estado desconhecido.", "Unknown status."),
    "exp-err-other": ("Não foi possível exportar: {value}", "The export failed: {value}"),
    # --- Duplicates ---------------------------------------------------------------------
    "dup-intro": (
        "Agregados provavelmente registados duas vezes, os mais prováveis primeiro. "
        "Confirme se são a mesma família (os registos ficam ligados a um só agregado; pode "
        "desfazer) ou rejeite (o par não volta a aparecer).",
        "Households probably registered twice, the most likely first. Confirm when they are "
        "one family (the records are linked under one household; you can undo) or dismiss "
        "(the pair is never shown again).",
    ),
    "dup-open": ("Por decidir", "To decide"),
    "dup-confirmed": ("Confirmados", "Confirmed"),
    "dup-dismissed": ("Rejeitados", "Dismissed"),
    "dup-score": ("Probabilidade", "Probability"),
    "dup-households": ("Agregados", "Households"),
    "dup-reasons": ("Porquê", "Why"),
    "dup-none": ("Nenhum par aqui.", "No pairs here."),
    "dup-found": ("{count} pares.", "{count} pairs."),
    "dup-near": ("parecido", "similar"),
    "dup-review": ("Ver par", "See pair"),
    "dup-pair": ("Par provável de duplicados", "Probable duplicate pair"),
    "dup-probable": ("{value}% provável", "{value}% probable"),
    "dup-record": ("Registo {value}", "Record {value}"),
    "dup-comparison": ("Comparação", "Comparison"),
    "dup-members": ("Membros, alinhados por sexo e idade", "Members, aligned by sex and age"),
    "dup-member-name": ("Nome", "Name"),
    "dup-sex": ("Sexo", "Sex"),
    "dup-age": ("Idade", "Age"),
    "dup-head-name": ("Nome do chefe", "Head's name"),
    "dup-phone": ("Telefone", "Phone"),
    "dup-origin": ("Distrito de origem", "Origin district"),
    "dup-registered": ("Data do registo", "Registration date"),
    "dup-size": ("Tamanho do agregado", "Household size"),
    "dup-gps": ("GPS", "GPS"),
    "dup-household-id": ("Id do agregado", "Household id"),
    "dup-agree": ("igual", "same"),
    "dup-differ": ("diferente", "different"),
    "dup-confirm": ("Confirmar: mesma família", "Confirm: one family"),
    "dup-dismiss": ("Rejeitar: famílias diferentes", "Dismiss: different families"),
    "dup-undo": ("Desfazer a decisão", "Undo the decision"),
    "dup-status-confirmed": (
        "Confirmado: os dois registos estão ligados ao agregado {value}.",
        "Confirmed: both records are linked under household {value}.",
    ),
    "dup-status-dismissed": (
        "Rejeitado: são famílias diferentes; o par não volta a aparecer.",
        "Dismissed: different families; the pair is not shown again.",
    ),
    "dup-decided": ("Decidido em {value}", "Decided on {value}"),
    "dup-done-confirm": ("Par confirmado.", "Pair confirmed."),
    "dup-done-dismiss": ("Par rejeitado.", "Pair dismissed."),
    "dup-done-reopen": (
        "Decisão desfeita: o par está por decidir.",
        "Decision undone: the pair is open again.",
    ),
    "already-decided": (
        "Este par já foi decidido; nada foi alterado. Desfaça a decisão primeiro.",
        "This pair was already decided; nothing was changed. Undo the decision first.",
    ),
    "not-decided": ("Este par ainda não foi decidido.", "This pair is not decided yet."),
    "dup-sex-M": ("H", "M"),
    "dup-sex-F": ("M", "F"),
    # Why a pair is probable: the fields that agree fully (sync_core.dedup.COMPARISONS).
    "dup-reason-given": ("mesmo nome próprio", "same given name"),
    "dup-reason-family": ("mesmo apelido", "same family name"),
    "dup-reason-sex": ("mesmo sexo", "same sex"),
    "dup-reason-age": ("mesma idade", "same age"),
    "dup-reason-phone": ("mesmo telefone", "same phone"),
    "dup-reason-site": ("mesmo local", "same site"),
    "dup-reason-origin": ("mesmo distrito de origem", "same origin district"),
    "dup-reason-date": ("mesma semana", "same week"),
    "dup-reason-gps": ("mesmo sítio (GPS)", "same place (GPS)"),
    "dup-reason-size": ("mesmo tamanho do agregado", "same household size"),
    "dup-reason-members": ("mesmas idades e sexos dos membros", "same members' ages and sexes"),
}
