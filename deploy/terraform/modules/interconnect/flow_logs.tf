# VPC flow logs for the VPCs this module creates (an existing VPC keeps its own setup). The
# log groups live in their VPC's region, each with its own (regional) KMS key.

locals {
  flow_log_vpcs = var.flow_logs ? merge(
    var.create_app_vpc ? { app = true } : {},
    var.create_endpoint_vpc ? { endpoint = true } : {},
  ) : {}
}

# IAM is global; the role serves both regions' flow logs.
resource "aws_iam_role" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name_prefix = "${var.name}-flowlogs-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
    }]
  })
  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name = "write-flow-logs"
  role = aws_iam_role.flow_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = concat(
        [for g in aws_cloudwatch_log_group.app_flow_logs : "${g.arn}:*"],
        [for g in aws_cloudwatch_log_group.endpoint_flow_logs : "${g.arn}:*"],
      )
    }]
  })
}

resource "aws_cloudwatch_log_group" "app_flow_logs" {
  count    = lookup(local.flow_log_vpcs, "app", false) ? 1 : 0
  provider = aws.app

  name              = "/vpc/${var.name}-app/flow-logs"
  retention_in_days = var.flow_logs_retention_days
  kms_key_id        = var.app_log_kms_key_arn
  tags              = local.tags

  lifecycle {
    precondition {
      condition     = var.app_log_kms_key_arn == null || try(split(":", var.app_log_kms_key_arn)[3], "") == var.app_region
      error_message = "app_log_kms_key_arn must be a key in app_region (${var.app_region}): KMS keys are regional."
    }
  }
}

resource "aws_flow_log" "app" {
  count    = lookup(local.flow_log_vpcs, "app", false) ? 1 : 0
  provider = aws.app

  vpc_id          = aws_vpc.app[0].id
  traffic_type    = "ALL"
  iam_role_arn    = aws_iam_role.flow_logs[0].arn
  log_destination = aws_cloudwatch_log_group.app_flow_logs[0].arn
  tags            = local.tags
}

resource "aws_cloudwatch_log_group" "endpoint_flow_logs" {
  count    = lookup(local.flow_log_vpcs, "endpoint", false) ? 1 : 0
  provider = aws.endpoint

  name              = "/vpc/${var.name}-endpoints/flow-logs"
  retention_in_days = var.flow_logs_retention_days
  kms_key_id        = var.endpoint_log_kms_key_arn
  tags              = local.tags

  lifecycle {
    precondition {
      condition     = var.endpoint_log_kms_key_arn == null || try(split(":", var.endpoint_log_kms_key_arn)[3], "") == var.endpoint_region
      error_message = "endpoint_log_kms_key_arn must be a key in endpoint_region (${var.endpoint_region}): KMS keys are regional."
    }
  }
}

resource "aws_flow_log" "endpoint" {
  count    = lookup(local.flow_log_vpcs, "endpoint", false) ? 1 : 0
  provider = aws.endpoint

  vpc_id          = aws_vpc.endpoint[0].id
  traffic_type    = "ALL"
  iam_role_arn    = aws_iam_role.flow_logs[0].arn
  log_destination = aws_cloudwatch_log_group.endpoint_flow_logs[0].arn
  tags            = local.tags
}
