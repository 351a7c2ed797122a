# lme4_factors.R -- factor coding in mixed models for attunement.trials (fit_lmm, fit_glmm):
#   (0 + f | g) and (f | g) with a factor f, 0 + f in the fixed part, contrasts
#   (contr.sum, contr.helmert) in the fixed and the random terms, poly(x, d, raw = TRUE) and
#   prior weights (lmer: residual variance sigma^2 / w; glmer: binomial trials, Poisson).
#   Data (written beside this script as CSV, factors as text so that both sides sort levels
#   alike): nlme's Machines and Oxboys, lme4's Arabidopsis, R's UCBAdmissions.
#   Rscript lme4_factors.R            (from tests/trials/data; writes lme4_factors.json)
# Contrasts are set on the factor column (contrasts(d$f) <- "contr.sum"), which codes the
# factor in the fixed and the random terms; lmer's contrasts = argument reaches the fixed part
# only. The Oxboys and Arabidopsis weights are arbitrary positive values (documented below) to
# exercise the weighted likelihood.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
lctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))

machines <- data.frame(score = nlme::Machines$score, Machine = as.character(nlme::Machines$Machine),
                       Worker = as.character(nlme::Machines$Worker))
ox <- nlme::Oxboys
oxboys <- data.frame(height = ox$height, age = ox$age, Subject = as.character(ox$Subject),
                     Occasion = as.integer(ox$Occasion))
oxboys$w <- 1 + oxboys$Occasion %% 3                      # arbitrary prior weights 1, 2, 3
ar <- lme4::Arabidopsis
arabidopsis <- data.frame(total.fruits = ar$total.fruits, nutrient = ar$nutrient,
                          amd = as.character(ar$amd), status = as.character(ar$status),
                          popu = as.character(ar$popu), gen = as.character(ar$gen),
                          rack = as.integer(ar$rack))
arabidopsis$w <- ifelse(arabidopsis$rack == 2, 2, 1)       # arbitrary prior weights 1, 2
u <- as.data.frame(UCBAdmissions)
ucb <- reshape(u, idvar = c("Gender", "Dept"), timevar = "Admit", direction = "wide")
ucb <- data.frame(Gender = as.character(ucb$Gender), Dept = as.character(ucb$Dept),
                  admitted = ucb$Freq.Admitted, rejected = ucb$Freq.Rejected)
ucb$applicants <- ucb$admitted + ucb$rejected
ucb$p_admitted <- ucb$admitted / ucb$applicants
datasets <- list(machines = machines, oxboys = oxboys, arabidopsis = arabidopsis, ucb = ucb)
for (nm in names(datasets)) write.csv(datasets[[nm]], paste0(nm, ".csv"), row.names = FALSE)

prep <- function(d, contr) {
  for (v in names(d)) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]])
  for (v in names(contr)) contrasts(d[[v]]) <- paste0("contr.", contr[[v]])
  d
}
vc <- function(m) {
  v <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(v)), function(i) list(grp = v$grp[i], var1 = ifelse(is.na(v$var1[i]), "", v$var1[i]),
                                             var2 = ifelse(is.na(v$var2[i]), "", v$var2[i]),
                                             vcov = v$vcov[i], sdcor = v$sdcor[i]))
}
common <- function(m, kind, name, formula, contr, weights) {
  list(kind = kind, data = name, formula = formula, contrasts = contr,
       weights = if (is.null(weights)) "" else weights,
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       varcorr = vc(m), ranef_columns = lapply(ranef(m), names), logLik = as.numeric(logLik(m)))
}
lmm <- function(name, formula, contr = list(), weights = NULL) {
  d <- prep(datasets[[name]], contr)
  # (lmer looks a weights = argument up among the data's columns first: pass it only when set)
  m <- if (is.null(weights)) lmerTest::lmer(as.formula(formula), data = d, REML = TRUE, control = lctrl)
       else lmerTest::lmer(as.formula(formula), data = d, REML = TRUE, control = lctrl,
                           weights = d[[weights]])
  out <- common(m, "lmm", name, formula, contr, weights)
  out$call <- sprintf("lmer(%s, %s%s)", formula, name, if (is.null(weights)) "" else paste0(", weights = ", weights))
  out$REML <- as.numeric(REMLcrit(m))
  out$df <- as.list(summary(m, ddf = "Satterthwaite")$coefficients[, "df"])
  out
}
glmm <- function(name, formula, family, contr = list(), weights = NULL) {
  d <- prep(datasets[[name]], contr)
  m <- if (is.null(weights)) glmer(as.formula(formula), data = d, family = family, control = gctrl)
       else glmer(as.formula(formula), data = d, family = family, control = gctrl, weights = d[[weights]])
  out <- common(m, "glmm", name, formula, contr, weights)
  out$family <- family
  out$call <- sprintf("glmer(%s, %s, %s%s)", formula, name, family,
                      if (is.null(weights)) "" else paste0(", weights = ", weights))
  out
}
models <- list(
  lmm("machines", "score ~ Machine + (0 + Machine | Worker)"),
  lmm("machines", "score ~ Machine + (Machine | Worker)"),
  lmm("machines", "score ~ 0 + Machine + (1 | Worker) + (1 | Worker:Machine)"),
  lmm("machines", "score ~ Machine + (Machine | Worker)", list(Machine = "sum")),
  lmm("machines", "score ~ Machine + (Machine | Worker)", list(Machine = "helmert")),
  lmm("oxboys", "height ~ poly(age, 2, raw = TRUE) + (age | Subject)"),
  lmm("oxboys", "height ~ age + (age | Subject)", weights = "w"),
  lmm("oxboys", "height ~ poly(age, 3, raw = TRUE) + (1 | Subject)", weights = "w"),
  glmm("arabidopsis", "total.fruits ~ nutrient + amd + (0 + amd | popu) + (1 | gen)", "poisson"),
  glmm("arabidopsis", "total.fruits ~ nutrient + amd + status + (1 | popu) + (1 | gen)", "poisson",
       list(amd = "sum", status = "helmert")),
  glmm("arabidopsis", "total.fruits ~ nutrient + amd + (1 | popu) + (1 | gen)", "poisson", weights = "w"),
  glmm("ucb", "cbind(admitted, rejected) ~ Gender + (Gender | Dept)", "binomial"),
  glmm("ucb", "cbind(admitted, rejected) ~ Gender + (0 + Gender | Dept)", "binomial", list(Gender = "sum")),
  glmm("ucb", "p_admitted ~ Gender + (1 | Dept)", "binomial", weights = "applicants")
)
# R's coding rule for a factor (contrasts, or one indicator per level), checked on
# model.matrix column names and column sums (Arabidopsis: amd, status factors, nutrient numeric)
mm <- function(formula, contr = list()) {
  X <- model.matrix(as.formula(formula), prep(arabidopsis, contr))
  list(formula = formula, contrasts = contr, columns = colnames(X), sums = unname(colSums(X)))
}
matrices <- list(
  mm("~ 0 + status"), mm("~ status"), mm("~ nutrient + nutrient:status"), mm("~ nutrient:status"),
  mm("~ 0 + nutrient:status"), mm("~ amd:status"), mm("~ 0 + amd:status"),
  mm("~ amd + amd:status"), mm("~ 0 + amd + status"), mm("~ status + amd:nutrient"),
  mm("~ 0 + status:nutrient + amd"), mm("~ nutrient + amd:status"),
  mm("~ amd * status", list(amd = "sum", status = "helmert")),
  mm("~ 0 + status", list(status = "sum")), mm("~ status + amd:status", list(status = "sum"))
)
out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest"))),
            models = models, model_matrices = matrices)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lme4_factors.json")
