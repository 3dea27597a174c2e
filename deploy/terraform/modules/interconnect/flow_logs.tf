# VPC flow logs for the VPCs this module creates (an existing VPC keeps its own setup).

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

locals {
  flow_log_vpcs = merge(
    var.create_app_vpc ? { app = true } : {},
    var.create_endpoint_vpc ? { endpoint = true } : {},
  )
}

resource "aws_iam_role" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = concat(
      [for g in aws_cloudwatch_log_group.app_flow_logs : "${g.arn}:*"],
      [for g in aws_cloudwatch_log_group.endpoint_flow_logs : "${g.arn}:*"],
    )
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_cloudwatch_log_group" "app_flow_logs" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app

  name              = "/vpc/${var.name}-app/flow-logs"
  retention_in_days = var.flow_logs_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

resource "aws_flow_log" "app" {
  count    = var.create_app_vpc ? 1 : 0
  provider = aws.app

  vpc_id          = aws_vpc.app[0].id
  traffic_type    = "ALL"
  iam_role_arn    = aws_iam_role.flow_logs[0].arn
  log_destination = aws_cloudwatch_log_group.app_flow_logs[0].arn
  tags            = local.tags
}

resource "aws_cloudwatch_log_group" "endpoint_flow_logs" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint

  name              = "/vpc/${var.name}-endpoints/flow-logs"
  retention_in_days = var.flow_logs_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

resource "aws_flow_log" "endpoint" {
  count    = var.create_endpoint_vpc ? 1 : 0
  provider = aws.endpoint

  vpc_id          = aws_vpc.endpoint[0].id
  traffic_type    = "ALL"
  iam_role_arn    = aws_iam_role.flow_logs[0].arn
  log_destination = aws_cloudwatch_log_group.endpoint_flow_logs[0].arn
  tags            = local.tags
}
